"""The "Generate video" action in admin: who sees it, the confirmation page, what it queues.

Real database, real ``create_video_request`` and image checks; jobs are not run here (the
on-commit enqueue never fires inside a test transaction), tests/test_browser_admin.py runs them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from django_kling.models import VideoRequest
from tests.shop.models import Product

CHANGELIST = "admin:shop_product_changelist"
STATIC = Path(__file__).resolve().parent.parent / "django_kling/static/django_kling/admin"


# -- fixtures and helpers shared by the admin tests ---------------------------------------------


def make_staff(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)  # fresh: no stale permission cache


def login(user: User, **headers: str) -> Client:
    client = Client(**headers)
    client.force_login(user)
    return client


PRODUCT_PERMS = ("shop.view_product", "shop.change_product")
KLING_VIEW = ("django_kling.view_videorequest",)
KLING_ALL = ("django_kling.view_videorequest", "django_kling.add_videorequest",
             "django_kling.change_videorequest")


# The fixtures get their names from name=, so that other modules can import them (pytest finds
# fixtures in a module's namespace) without the tests' arguments shadowing the imports.
@pytest.fixture(name="editor")
def editor_fixture(db) -> User:
    """Staff who edit products and may look at video requests, but may not queue any."""
    return make_staff("editor", *PRODUCT_PERMS, *KLING_VIEW)


@pytest.fixture(name="producer")
def producer_fixture(db) -> User:
    """Staff who may queue, retry and cancel video requests."""
    return make_staff("producer", *PRODUCT_PERMS, *KLING_ALL)


@pytest.fixture(name="make_product")
def make_product_fixture(db, make_image):
    def make(name: str = "Sea salt", *, width: int = 800, height: int = 450,
             description: str = "A jar of sea salt on a rock by the waves.") -> Product:
        product = Product(name=name, description=description)
        product.image.save(f"{name}.png", ContentFile(make_image(width, height)), save=True)
        return product

    return make


def action_choices(response) -> list[str]:
    form = response.context["action_form"]  # None when the user may run no action at all
    return [name for name, _label in form.fields["action"].choices] if form else []


def confirm_data(products, *, mode="pro", sound=True, duration=5, aspect="16:9",
                 negative="", prompts=None, action=True) -> dict:
    data = {
        "kling_confirm": "1",
        "options-duration": str(duration),
        "options-aspect_ratio": aspect,
        "options-mode": mode,
        "options-negative_prompt": negative,
        "rows-TOTAL_FORMS": str(len(products)),
        "rows-INITIAL_FORMS": "0",
    }
    if sound:
        data["options-sound"] = "on"
    if action:
        data["action"] = "generate_video"
        data["select_across"] = "0"
        data["_selected_action"] = [str(p.pk) for p in products]
    for index, product in enumerate(products):
        data[f"rows-{index}-object_id"] = str(product.pk)
        data[f"rows-{index}-prompt"] = (prompts or {}).get(product.pk, f"{product.name} turns.")
    return data


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# -- who sees the action --------------------------------------------------------------------------


def test_editor_without_add_permission_sees_no_action(editor, make_product):
    product = make_product()
    client = login(editor)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert "generate_video" not in action_choices(response)
    change = client.get(reverse("admin:shop_product_change", args=[product.pk]))
    assert change.status_code == 200
    assert "kling-generate-link" not in change.content.decode()
    page = reverse("admin:shop_product_generate_video", args=[product.pk])
    assert client.get(page).status_code == 403
    # Posting the action by hand does not run it either.
    response = client.post(reverse(CHANGELIST), confirm_data([product]))
    assert VideoRequest.objects.count() == 0


def test_editor_sees_no_action_made_by_the_factory(editor, producer):
    url = reverse("factory_admin:shop_product_changelist")
    assert "generate_video" not in action_choices(login(editor).get(url))
    assert "generate_video" in action_choices(login(producer).get(url))


def test_producer_sees_the_action_and_the_button(producer, make_product):
    product = make_product()
    client = login(producer)
    assert "generate_video" in action_choices(client.get(reverse(CHANGELIST)))
    change = client.get(reverse("admin:shop_product_change", args=[product.pk])).content.decode()
    button = reverse("admin:shop_product_generate_video", args=[product.pk])
    assert f'href="{button}"' in change


# -- the confirmation page -----------------------------------------------------------------------


def test_confirmation_page_lists_each_object_with_its_picture_and_prompt(producer, make_product):
    salt = make_product("Sea salt")
    mug = make_product("Mug", description="A <b>blue</b> mug on a table.")
    response = login(producer).post(reverse(CHANGELIST), {
        "action": "generate_video", "_selected_action": [salt.pk, mug.pk]})
    assert response.status_code == 200
    assert response.templates[0].name == "django_kling/admin/generate_video.html"
    html = response.content.decode()
    assert "Generate video" in html
    # Django's own breadcrumb markup (6.1 styles only ol.breadcrumbs; kling.css styles it on
    # the older ones too).
    crumbs = re.search(r'<ol class="breadcrumbs">(.*?)</ol>', html, re.S)
    assert crumbs and '<li aria-current="page">Generate video</li>' in crumbs.group(1)
    assert "ol.breadcrumbs" in (STATIC / "kling.css").read_text()
    # The Sound box beside its label, in Django's checkbox markup (6.1 stacks a bare
    # flex-container's children: the box sat above its label).
    assert re.search(r'<div class="checkbox">\s*<input type="checkbox" name="options-sound"'
                     r'[^>]*>\s*<label for="id_options-sound"', html)
    for product in (salt, mug):
        assert product.image.url in html
    # Prompts are prefilled from the description, as text.
    assert "A jar of sea salt on a rock by the waves." in html
    assert "A blue mug on a table." in html
    # Options and the batch cost: 2 clips × 5 s × 0.14 (pro with sound).
    for name in ("options-duration", "options-aspect_ratio", "options-mode", "options-sound",
                 "options-negative_prompt", "rows-0-last_frame", "rows-1-last_frame"):
        assert f'name="{name}"' in html
    assert re.search(r"data-kling-total>\s*1\.40 USD", html)
    assert "0.70 USD" in html
    assert VideoRequest.objects.count() == 0


def test_cost_follows_the_currency_and_prices_settings(producer, make_product, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "CURRENCY": "EUR",
                             "PRICES": {"std": {"silent": "0.05", "sound": "0.05"},
                                        "pro": {"silent": "0.10", "sound": "0.20"}}}
    product = make_product()
    response = login(producer).post(reverse(CHANGELIST), {
        "action": "generate_video", "_selected_action": [product.pk]})
    assert "1.00 EUR" in response.content.decode()  # 5 s × 0.20


def test_confirming_queues_one_job_per_object(producer, make_product):
    salt, mug = make_product("Sea salt"), make_product("Mug")
    client = login(producer)
    data = confirm_data([salt, mug], negative="blur", duration=10, aspect="1:1",
                        prompts={salt.pk: "The jar turns.", mug.pk: "Steam rises."})
    response = client.post(reverse(CHANGELIST), data, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse(CHANGELIST))
    jobs = {job.object_id: job for job in VideoRequest.objects.all()}
    assert set(jobs) == {str(salt.pk), str(mug.pk)}
    salt_job = jobs[str(salt.pk)]
    assert salt_job.source_object == salt and salt_job.field_name == "image"
    assert (salt_job.prompt, salt_job.negative_prompt) == ("The jar turns.", "blur")
    assert (salt_job.duration, salt_job.aspect_ratio, salt_job.mode) == (10, "1:1", "pro")
    assert salt_job.generate_audio and salt_job.created_by == producer
    assert salt_job.status == "queued"
    # The message says how many and links to the filtered video request list.
    [message] = messages_of(response)
    assert "2 videos were queued." in message
    ct = ContentType.objects.get_for_model(Product)
    link = re.search(r'href="([^"]+)"', message).group(1).replace("&amp;", "&")
    assert link.startswith(reverse("admin:django_kling_videorequest_changelist"))
    assert f"source_type={ct.pk}" in link
    listing = client.get(link)
    assert listing.status_code == 200
    assert {str(job.pk) for job in listing.context["cl"].result_list} == {
        str(job.pk) for job in jobs.values()}


def test_rows_that_fail_are_listed_with_the_reason_and_not_queued(producer, make_product):
    good = make_product("Good")
    tiny = make_product("Tiny", width=200, height=150)
    response = login(producer).post(reverse(CHANGELIST), confirm_data([good, tiny]))
    assert response.status_code == 200  # the page again, with what could not be queued
    assert [job.object_id for job in VideoRequest.objects.all()] == [str(good.pk)]
    html = response.content.decode()
    rows = response.context["rows"]
    assert [row.obj for row in rows] == [tiny]
    assert "at least 300" in str(rows[0].form.non_field_errors())
    assert "at least 300" in html
    [message] = messages_of(response)
    # One request: its own page, and "its" progress (issue 21).
    assert "1 video was queued." in message and "Follow its progress" in message
    link = re.search(r'href="([^"]+)"', message).group(1)
    job = VideoRequest.objects.get()
    assert link == reverse("admin:django_kling_videorequest_change", args=[job.pk])
    # Confirming again only concerns the failed row.
    assert re.findall(r'name="_selected_action" value="([^"]+)"', html) == [str(tiny.pk)]


def test_product_without_picture_is_refused(producer, make_product):
    bare = Product.objects.create(name="Bare")
    response = login(producer).post(reverse(CHANGELIST), confirm_data([bare]))
    assert response.status_code == 200
    assert VideoRequest.objects.count() == 0
    assert "No picture" in response.content.decode()
    assert response.context["rows"][0].form.non_field_errors()


def test_sound_without_pro_is_a_form_error_and_nothing_is_queued(producer, make_product):
    products = [make_product("A"), make_product("B")]
    response = login(producer).post(reverse(CHANGELIST),
                                    confirm_data(products, mode="std", sound=True))
    assert response.status_code == 200
    assert VideoRequest.objects.count() == 0
    batch = response.context["batch_form"]
    assert "Sound needs the pro mode" in str(batch.errors["mode"])
    assert len(response.context["rows"]) == 2


def test_last_frame_upload(producer, make_product, make_image):
    product = make_product()
    data = confirm_data([product])
    data["rows-0-last_frame"] = SimpleUploadedFile("end.png", make_image(800, 450, (0, 0, 200)),
                                                   "image/png")
    response = login(producer).post(reverse(CHANGELIST), data)
    assert response.status_code == 302
    job = VideoRequest.objects.get()
    assert job.last_frame is not None and job.last_frame.kind == "last_frame"
    assert job.last_frame.width == 800


def test_last_frame_without_pro_is_an_error_on_that_row(producer, make_product, make_image):
    with_frame, without = make_product("With"), make_product("Without")
    data = confirm_data([with_frame, without], mode="std", sound=False)
    data["rows-0-last_frame"] = SimpleUploadedFile("end.png", make_image(), "image/png")
    response = login(producer).post(reverse(CHANGELIST), data)
    assert response.status_code == 200
    assert [job.object_id for job in VideoRequest.objects.all()] == [str(without.pk)]
    [row] = response.context["rows"]
    assert row.obj == with_frame
    assert "last frame needs the pro mode" in str(row.form.errors["last_frame"])


def test_broken_last_frame_is_an_error_on_its_field(producer, make_product):
    product = make_product()
    data = confirm_data([product])
    data["rows-0-last_frame"] = SimpleUploadedFile("end.png", b"not an image", "image/png")
    response = login(producer).post(reverse(CHANGELIST), data)
    assert response.status_code == 200
    assert VideoRequest.objects.count() == 0
    assert response.context["rows"][0].form.errors["last_frame"]


def test_too_long_prompt_is_an_error_on_the_prompt(producer, make_product):
    product = make_product()
    data = confirm_data([product], prompts={product.pk: "x" * 2501})
    response = login(producer).post(reverse(CHANGELIST), data)
    assert VideoRequest.objects.count() == 0
    assert "2500" in str(response.context["rows"][0].form.errors["prompt"])


def test_over_the_row_limit_the_page_offers_a_batch(producer, make_product):
    # Above max_objects there is one set of options for all (a batch), not a row per object.
    products = [make_product(f"P{i}") for i in range(3)]
    from tests.shop.admin import ProductAdmin

    ProductAdmin.kling_max_objects = 2
    try:
        response = login(producer).post(reverse(CHANGELIST), {
            "action": "generate_video", "_selected_action": [p.pk for p in products]},
            follow=True)
    finally:
        ProductAdmin.kling_max_objects = 50
    page = response.content.decode()
    assert response.templates[0].name == "django_kling/admin/generate_batch.html"
    assert "Start a batch of 3 videos" in page and "rows-TOTAL_FORMS" not in page
    assert VideoRequest.objects.count() == 0


def test_single_object_page_from_the_change_page(producer, make_product):
    product = make_product()
    client = login(producer)
    url = reverse("admin:shop_product_generate_video", args=[product.pk])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert product.image.url in html and "_selected_action" not in html
    change_url = reverse("admin:shop_product_change", args=[product.pk])
    assert f'href="{change_url}"' in html  # breadcrumb back to the product
    response = client.post(url, confirm_data([product], action=False))
    assert response.status_code == 302 and response["Location"] == change_url
    assert VideoRequest.objects.get().source_object == product


def test_factory_action_queues_too(producer, make_product):
    product = make_product()
    url = reverse("factory_admin:shop_product_changelist")
    client = login(producer)
    page = client.post(url, {"action": "generate_video", "_selected_action": [product.pk]})
    assert "A jar of sea salt" in page.content.decode()
    response = client.post(url, confirm_data([product]), follow=True)
    assert VideoRequest.objects.get().source_object == product
    # That site has no video request admin: the message has no link, but says it was queued.
    assert messages_of(response) == ["1 video was queued."]


def test_unknown_image_field_is_a_system_check_error():
    from django.contrib import admin

    from django_kling.admin import KlingVideoAdminMixin

    class Broken(KlingVideoAdminMixin, admin.ModelAdmin):
        kling_image_field = "picture"

    errors = Broken(Product, admin.AdminSite(name="check_site")).check()
    assert [e.id for e in errors] == ["django_kling.E101"]


def test_budget_refusals_are_listed_per_row(producer, make_product, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "BUDGET": {"per_day": "1.00"}}
    first, second = make_product("First"), make_product("Second")
    response = login(producer).post(reverse(CHANGELIST), confirm_data([first, second]))
    assert [job.object_id for job in VideoRequest.objects.all()] == [str(first.pk)]
    [row] = response.context["rows"]
    assert row.obj == second
    assert "The budget of 1.00 USD for today is reached" in str(row.form.non_field_errors())
    assert "1 video was queued." in " ".join(messages_of(response))
