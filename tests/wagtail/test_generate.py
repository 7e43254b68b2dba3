"""The "Generate video" bulk action of Wagtail's image listing, and the image page's button."""

from __future__ import annotations

import pytest

wagtail = pytest.importorskip("wagtail", reason="Wagtail is not installed (the [wagtail] extra)")

from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.urls import reverse  # noqa: E402

from django_kling.contrib.wagtail.bulk_actions import generate_url  # noqa: E402
from django_kling.models import AssetKind, Status, VideoRequest  # noqa: E402
from tests.conftest import wait_for_end  # noqa: E402

from .helpers import editor, make_wagtail_image  # noqa: E402


@pytest.fixture
def images(db, make_image):
    return [make_wagtail_image(make_image, "Sea salt"),
            make_wagtail_image(make_image, "Pepper", color=(20, 120, 40))]


def action_url(images, next_url="/cms/images/"):
    return generate_url(type(images[0]), [image.pk for image in images], next_url)


FORM = {"options-duration": "5", "options-aspect_ratio": "16:9", "options-mode": "pro",
        "options-model": "klingai/kling-v2.6-i2v", "options-sound": "on",
        "options-prompt": "The jar turns slowly.", "options-negative_prompt": ""}


def test_the_listing_offers_the_action(admin_client, images):
    page = admin_client.get(reverse("wagtailimages:index")).content.decode()
    assert "generate_video" in page and "Generate video" in page


def test_confirmation_lists_the_images_with_the_estimate(admin_client, images):
    response = admin_client.get(action_url(images))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Sea salt" in page and "Pepper" in page
    assert 'id="kling-generate-form"' in page and 'data-kling-count="2"' in page
    assert "1.40 USD" in page  # 2 clips x 5 s x 0.14 (sound, pro)
    assert "django_kling/admin/generate.js" in page  # the admin's own estimate script


def test_generating_queues_one_job_per_image_linked_to_it(admin_client, images, sandbox,
                                                          worker):
    response = admin_client.post(action_url(images), FORM)
    assert response.status_code == 302 and response["Location"] == "/cms/images/"
    jobs = list(VideoRequest.objects.order_by("created_at"))
    assert len(jobs) == 2
    image_type = ContentType.objects.get_for_model(images[0])
    assert {(j.content_type, j.object_id, j.field_name) for j in jobs} == {
        (image_type, str(image.pk), "file") for image in images}
    assert all(j.prompt == "The jar turns slowly." and j.generate_audio for j in jobs)
    for job in jobs:
        assert wait_for_end(job).status == Status.SUCCEEDED


def test_an_empty_prompt_uses_the_image_title(admin_client, images,
                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post(action_url(images[:1]), {**FORM, "options-prompt": ""})
    assert VideoRequest.objects.get().prompt == "Sea salt"


def test_over_budget_nothing_is_queued_and_the_form_says_why(admin_client, images, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BUDGET": {"per_day": "1.00"}}
    response = admin_client.post(action_url(images), FORM)  # 1.40 > 1.00
    assert response.status_code == 200
    assert "budget of 1.00 USD" in response.content.decode()
    assert not VideoRequest.objects.exists()


def test_a_refused_image_is_reported_and_the_others_are_queued(admin_client, images,
                                                                make_image):
    tiny = make_wagtail_image(make_image, "Stamp", width=120, height=120)
    response = admin_client.post(action_url([images[0], tiny]), FORM, follow=True)
    page = response.content.decode()
    assert "Stamp:" in page and "300" in page  # the side rule, on the image it broke
    assert "1 video was queued." in page
    assert list(VideoRequest.objects.values_list("object_id", flat=True)) == [str(images[0].pk)]


def test_sound_without_pro_is_refused_for_the_batch(admin_client, images):
    response = admin_client.post(action_url(images), {**FORM, "options-mode": "std"},
                                 follow=True)
    assert "Sound needs the pro mode" in response.content.decode()
    assert not VideoRequest.objects.exists()


def test_editors_without_the_app_permission_cannot_generate(client, images):
    client.force_login(editor("viewer", kling=("view",)))
    page = client.get(action_url(images)).content.decode()
    assert "You may not make videos from these images" in page
    client.post(action_url(images), FORM)
    assert not VideoRequest.objects.exists()


def test_an_editor_with_both_permissions_can(client, images,
                                             django_capture_on_commit_callbacks):
    client.force_login(editor())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(action_url(images), FORM)
    assert VideoRequest.objects.count() == 2
    # Each job is sent to the queue only once the batch commits (Wagtail adds its own
    # callbacks, e.g. reference index tasks).
    ours = [c for c in callbacks if "create_video_request" in getattr(c, "__qualname__", "")]
    assert len(ours) == 2


def test_the_image_page_has_the_button(admin_client, images):
    page = admin_client.get(reverse("wagtailimages:edit", args=(images[0].pk,))).content.decode()
    assert "data-kling-generate" in page
    assert f"id={images[0].pk}" in page and "0 clips" in page


def test_a_deleted_image_keeps_its_jobs_and_first_frame(admin_client, images, sandbox):
    from tests.test_templatetags import make_clip

    job = make_clip(images[0], field_name="file", prompt="Waves roll in behind the jar.")
    frame = job.first_frame
    images[0].delete()
    job.refresh_from_db()
    assert job.source_object is None and job.status == Status.SUCCEEDED
    assert frame.kind == AssetKind.SOURCE_IMAGE and frame.file.storage.exists(frame.file.name)
    page = admin_client.get(reverse("kling_videos:index")).content.decode()
    assert "Waves roll in behind the jar." in page  # listed by its prompt now
    inspect = admin_client.get(reverse("kling_videos:inspect", args=(job.pk,))).content.decode()
    assert "<video" in inspect and job.video.file.name in inspect


def test_variants_make_several_clips_per_image_and_the_estimate_counts_them(
        admin_client, images, django_capture_on_commit_callbacks):
    page = admin_client.post(action_url(images), {**FORM, "kling_apply_preset": "1",
                                                  "options-variants": "2"}).content.decode()
    assert "2.80 USD" in page and "<strong data-kling-clips>4</strong>" in page  # 2 x 2 x 0.70
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(action_url(images), {**FORM, "options-variants": "2"},
                                     follow=True)
    assert "4 videos were queued." in response.content.decode()
    groups = VideoRequest.objects.values_list("object_id", "variant_group")
    assert len(groups) == 4 and len({g for _o, g in groups}) == 2  # one group per image


def test_a_preset_fills_the_options_and_makes_the_prompt_per_image(
        admin_client, make_image, django_capture_on_commit_callbacks):
    from django_kling.models import VideoPreset

    # Large enough for a 9:16 crop (a 640x360 image is refused for it, with the reason).
    images = [make_wagtail_image(make_image, title, 1280, 720)
              for title in ("Sea salt", "Pepper")]
    preset = VideoPreset.objects.create(
        name="Slow turn", slug="slow-turn", prompt_template="{title} turns slowly.",
        duration=10, formats="16:9, 9:16", mode="pro", sound=False)
    page = admin_client.post(action_url(images), {**FORM, "kling_apply_preset": "1",
                                                  "options-preset": str(preset.pk)})
    form = page.context["form"]
    assert form["duration"].value() == "10" and not form["sound"].value()
    assert form["aspect_ratio"].value() == ["16:9", "9:16"]  # the preset's formats, ticked
    html = page.content.decode()
    assert "= <strong data-kling-clips>4</strong>" in html and "Queue 4 videos" in html
    assert not VideoRequest.objects.exists()  # applying queues nothing
    with django_capture_on_commit_callbacks(execute=False):
        done = admin_client.post(action_url(images), {
            **FORM, "options-preset": str(preset.pk), "options-prompt": "",
            "options-aspect_ratio": ["16:9", "9:16"],
            "options-duration": "10", "options-sound": ""}, follow=True)
    assert "4 videos were queued." in done.content.decode(), [
        str(m) for m in done.context["messages"]]
    jobs = VideoRequest.objects.all()
    assert sorted((j.prompt, j.aspect_ratio) for j in jobs) == [
        ("Pepper turns slowly.", "16:9"), ("Pepper turns slowly.", "9:16"),
        ("Sea salt turns slowly.", "16:9"), ("Sea salt turns slowly.", "9:16")]
    assert all(j.preset_id == preset.pk and j.duration == 10 for j in jobs)


def test_a_default_preset_applied_to_two_images_queues_both(
        admin_client, make_image, django_capture_on_commit_callbacks):
    from django_kling.editorial.preset_defaults import install_default_presets
    from django_kling.models import VideoPreset

    install_default_presets()  # "{object}": an image's title
    preset = VideoPreset.objects.get(slug="unboxing")
    images = [make_wagtail_image(make_image, title, 1280, 720) for title in ("Sea salt", "Pepper")]
    chosen = {**FORM, "options-preset": str(preset.pk), "options-prompt": ""}
    page = admin_client.post(action_url(images), {**chosen, "kling_apply_preset": "1"})
    assert not page.context["form"].errors
    with django_capture_on_commit_callbacks(execute=False):
        done = admin_client.post(action_url(images), chosen, follow=True)
    assert "2 videos were queued." in done.content.decode(), [
        str(m) for m in done.context["messages"]]
    assert sorted(j.prompt.split(",")[0] for j in VideoRequest.objects.all()) == [
        "Hands open a plain box and lift out Pepper",
        "Hands open a plain box and lift out Sea salt"]


def test_a_preset_the_images_cannot_fill_is_refused_at_once_keeping_the_options(
        admin_client, images, django_capture_on_commit_callbacks):
    from django_kling.models import VideoPreset

    preset = VideoPreset.objects.create(name="By name", slug="by-name", duration=10,
                                        prompt_template="{name} turns.")  # images have titles
    chosen = {**FORM, "options-preset": str(preset.pk), "options-prompt": ""}
    page = admin_client.post(action_url(images), {**chosen, "kling_apply_preset": "1"})
    form = page.context["form"]
    [error] = form.errors["preset"]
    assert "“Sea salt”" in error and "“Pepper”" in error and "{name}" in error
    assert form["duration"].value() == "5"  # the editor's, not the preset's 10
    with django_capture_on_commit_callbacks(execute=False):
        page = admin_client.post(action_url(images), chosen)
    assert page.status_code == 200 and not VideoRequest.objects.exists()
    assert "“Sea salt”" in str(page.context["form"].non_field_errors())
    assert page.context["form"]["duration"].value() == "5"


def test_the_turbo_is_offered_no_sound_and_twelve_seconds_only_on_v3(admin_client, images):
    """Issue 26, without JavaScript: the page for the v2.5 turbo shows the sound toggle
    disabled and off, refuses it with the registry's message; v3.0 takes 12 s."""
    import re

    response = admin_client.post(action_url(images), {
        **FORM, "options-model": "klingai/kling-v2.5-turbo-i2v"}, follow=True)
    page = response.content.decode()
    [sound] = re.findall(r'<input[^>]*name="options-sound"[^>]*>', page)
    assert "disabled" in sound and "checked" not in sound
    assert "silent clips only" in page and 'id="kling-offers"' in page
    response = admin_client.post(action_url(images), {**FORM, "options-duration": "12"},
                                 follow=True)
    assert "5, 10 seconds, not 12" in response.content.decode()
    assert not VideoRequest.objects.exists()


def test_multi_shot_rows_are_refused_on_v26_and_queued_per_image_on_v3(admin_client, images,
                                                                      sandbox):
    """Issue 26, without JavaScript: Wagtail's Generate page carries the shot rows; v2.6
    refuses them with the registry's message, v3.0 queues them, filled per image."""
    from django_kling.request_shots import shots_of

    shots = {"options-shots_0": "{title} on a shelf", "options-shots_1": "3",
             "options-shots_2": "A hand picks up {object}", "options-shots_3": "2"}
    response = admin_client.post(action_url(images), {**FORM, **shots}, follow=True)
    page = response.content.decode()
    assert "takes no multi-shot prompts" in page and "data-kling-shots" in page
    assert not VideoRequest.objects.exists()
    response = admin_client.post(action_url(images), {
        **FORM, **shots, "options-model": "klingai/kling-v3.0-i2v"})
    assert response.status_code == 302
    found = {shots_of(job) for job in VideoRequest.objects.all()}
    assert found == {(("Sea salt on a shelf", 3), ("A hand picks up Sea salt", 2)),
                     (("Pepper on a shelf", 3), ("A hand picks up Pepper", 2))}
