from django.db import migrations, models

HELP = ("Shown in the shop. A new product is published when its first video is ready (see "
        "shop/receivers.py).")


class Migration(migrations.Migration):

    dependencies = [
        ('shop', '0001_initial'),
    ]

    # Products that exist already were public before the flag: they are added as published;
    # new ones start as drafts.
    operations = [
        migrations.AddField(
            model_name='product',
            name='published',
            field=models.BooleanField(default=True, help_text=HELP, verbose_name='published'),
        ),
        migrations.AlterField(
            model_name='product',
            name='published',
            field=models.BooleanField(default=False, help_text=HELP, verbose_name='published'),
        ),
    ]
