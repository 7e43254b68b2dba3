"""Presets work on any model: ``{object}`` (the object's ``str()``) and fallback chains.

The default presets installed with ``{name}`` (refused for every object without a ``name``
field, e.g. Wagtail images) are brought to ``{object}``, but only where a text is still the one
that was installed: a preset an editor changed is left as it is. The old texts are frozen here.
"""

from django.db import migrations, models

OLD = "{name}"
NEW = "{object}"
#: slug -> {field: the text kling_presets --install-defaults wrote before this release}.
INSTALLED = {
    "turntable": {"prompt_template": "{name} turns slowly through a full circle on a clean "
                                     "studio background; soft even light, the camera stays "
                                     "still."},
    "unboxing": {"prompt_template": "Hands open a plain box and lift out {name}, turning it to "
                                    "the light; paper rustles, a soft click as the lid opens."},
    "lifestyle": {"prompt_template": "{name} in use in a bright, lived-in home; the camera "
                                     "drifts slowly closer. Quiet room ambience, birds outside "
                                     "the window."},
    "intro-en": {"prompt_template": "A friendly presenter holds {name} towards the camera and "
                                    "smiles.",
                 "spoken_line_en": "Meet {name}. Made to last, made for you."},
    "intro-zh": {"prompt_template": "A friendly presenter holds {name} towards the camera and "
                                    "smiles.",
                 "spoken_line_zh": "为您介绍{name}，经久耐用，专为您打造。"},
}


def _swap(apps, old: str, new: str) -> None:
    preset_model = apps.get_model("django_kling", "VideoPreset")
    for preset in preset_model.objects.filter(slug__in=list(INSTALLED)):
        changed = []
        for field, text in INSTALLED[preset.slug].items():
            if getattr(preset, field) == text.replace(OLD, old):
                setattr(preset, field, text.replace(OLD, new))
                changed.append(field)
        if changed:
            preset.save(update_fields=changed)


def forwards(apps, schema_editor) -> None:
    _swap(apps, OLD, NEW)


def backwards(apps, schema_editor) -> None:
    _swap(apps, NEW, OLD)


class Migration(migrations.Migration):

    dependencies = [
        ("django_kling", "0011_staged_files"),
    ]

    operations = [
        migrations.AlterField(
            model_name="videopreset",
            name="prompt_template",
            field=models.TextField(
                blank=True,
                help_text="Placeholders are filled for each object: {object} with the object "
                          "itself (its name in lists, on any model), {description} with a "
                          "field; {title|name|object} with the first of these the object has "
                          "that is not empty.",
                verbose_name="prompt template"),
        ),
        migrations.RunPython(forwards, backwards),
    ]
