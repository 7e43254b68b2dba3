"""Caption tracks: a WebVTT ``Asset`` kind and the ``CaptionTrack`` that says what it is for."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("django_kling", "0012_preset_object_placeholder"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="asset",
            name="kind",
            field=models.CharField(choices=[("source_image", "Source image"), ("last_frame", "Last frame"), ("video", "Video"), ("poster", "Poster"), ("captions", "Captions (WebVTT)")], max_length=20, verbose_name="kind"),
        ),
        migrations.CreateModel(
            name="CaptionTrack",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("language", models.CharField(max_length=16, verbose_name="language")),
                ("label", models.CharField(help_text="The name browsers show in their captions menu.", max_length=50, verbose_name="label")),
                ("transcript", models.TextField(blank=True, verbose_name="transcript")),
                ("speaker", models.CharField(blank=True, max_length=100, verbose_name="speaker")),
                ("webvtt", models.TextField(verbose_name="WebVTT text")),
                ("timing", models.CharField(choices=[("timed", "Timed to the speech in the clip"), ("untimed", "Untimed: no speech found in the audio"), ("edited", "Corrected by an editor")], default="timed", max_length=10, verbose_name="timing")),
                ("speech", models.JSONField(blank=True, default=list, verbose_name="speech found")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated")),
                ("asset", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="django_kling.asset", verbose_name="WebVTT file")),
                ("edited_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="edited by")),
                ("request", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="caption_track", to="django_kling.videorequest", verbose_name="request")),
            ],
            options={
                "verbose_name": "caption track",
                "verbose_name_plural": "caption tracks",
            },
        ),
    ]
