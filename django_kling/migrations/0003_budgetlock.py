from django.db import migrations, models


def create_lock_row(apps, schema_editor):
    apps.get_model("django_kling", "BudgetLock").objects.get_or_create(name="budget")


class Migration(migrations.Migration):

    dependencies = [
        ("django_kling", "0002_generation_id"),
    ]

    operations = [
        migrations.CreateModel(
            name="BudgetLock",
            fields=[
                ("name", models.CharField(max_length=40, primary_key=True, serialize=False,
                                          verbose_name="name")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated")),
            ],
            options={
                "verbose_name": "budget lock",
                "verbose_name_plural": "budget locks",
            },
        ),
        migrations.RunPython(create_lock_row, migrations.RunPython.noop),
    ]
