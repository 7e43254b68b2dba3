"""The video request and asset admin: list, pages by state, live status, retry, cancel, inline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_kling.flow.pipeline import fail
from django_kling.jobs import create_video_request
from django_kling.models import Asset, Status, VideoRequest
from tests.shop.models import Product

from .test_admin import (  # noqa: F401  (fixtures, by their pytest names)
    KLING_VIEW,
    PRODUCT_PERMS,
    editor_fixture,
    login,
    make_product_fixture,
    make_staff,
    producer_fixture,
)

CHANGELIST = "admin:django_kling_videorequest_changelist"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def change_url(job: VideoRequest) -> str:
    return reverse("admin:django_kling_videorequest_change", args=[job.pk])


def status_url() -> str:
    return reverse("admin:django_kling_videorequest_status")


def queued_job(product: Product, **options) -> VideoRequest:
    return create_video_request(source=product, field_name="image", **options)


def run_to(job: VideoRequest, status: str, **fields) -> VideoRequest:
    """Move a job along the state machine the way the worker does (no provider involved)."""
    path = [Status.SUBMITTING, Status.RUNNING, Status.FETCHING, Status.SUCCEEDED]
    for step in path[: path.index(status) + 1] if status in path else []:
        extra = fields if step == status else {}
        job = VideoRequest.objects.transition(job, step, **extra)
    return job


def succeeded_job(product: Product, **options) -> VideoRequest:
    job = queued_job(product, **options)
    video = Asset.objects.create(kind="video", file="kling/test/clip.mp4", mime="video/mp4",
                                 size=734_003, width=1920, height=1080, duration=5.0, fps=30.0,
                                 has_audio=True)
    poster = Asset.objects.create(kind="poster", file="kling/test/poster.jpg",
                                  mime="image/jpeg", size=40_000, width=1920, height=1080)
    return run_to(job, Status.SUCCEEDED, video=video, poster=poster, poll_count=4)


@pytest.fixture
def superuser_client(admin_client):
    return admin_client


# -- the list --------------------------------------------------------------------------------


def test_list_shows_badge_source_thumbnail_and_options(admin_client, make_product):
    product = make_product("Sea salt")
    job = queued_job(product, duration=10, aspect_ratio="1:1", sound=False, mode="std")
    # review=all: a superuser may review, and reviewers land on clips awaiting review.
    html = admin_client.get(reverse(CHANGELIST), {"review": "all"}).content.decode()
    assert f'data-kling-job="{job.pk}"' in html and "kling-badge--queued" in html
    assert f'data-kling-status-url="{status_url()}"' in html
    product_url = reverse("admin:shop_product_change", args=[product.pk])
    assert f'<a href="{product_url}">product: Sea salt</a>' in html
    assert job.first_frame.file.url in html
    assert "10 s · 1:1 · std · silent" in html
    assert "≈ 0.70 USD" in html  # estimated: 10 s × 0.07 (silent)
    assert "static/django_kling/admin/progress.js" in html


def test_list_filters_and_search(admin_client, make_product):
    salt, mug = make_product("Sea salt"), make_product("Mug")
    quiet = queued_job(salt, prompt="waves roll", sound=False)
    loud = queued_job(mug, prompt="steam rises")
    fail(loud, "deadline", "too slow")

    def ids(**params):
        response = admin_client.get(reverse(CHANGELIST), {"review": "all", **params})
        assert response.status_code == 200
        return {job.pk for job in response.context["cl"].result_list}

    assert ids(status__exact="failed") == {loud.pk}
    assert ids(generate_audio__exact="0") == {quiet.pk}
    assert ids(provider="gateway") == {quiet.pk, loud.pk}
    assert ids(provider="fal") == set()
    assert ids(model="klingai/kling-v2.6-i2v") == {quiet.pk, loud.pk}
    assert ids(q="steam") == {loud.pk}
    assert ids(q=str(quiet.pk)) == {quiet.pk}
    ct = ContentType.objects.get_for_model(Product)
    assert ids(source_type=ct.pk, object_id__in=str(salt.pk)) == {quiet.pk}
    assert ids(created_at__gte="2000-01-01 00:00:00+00:00") == {quiet.pk, loud.pk}


def test_list_queries_do_not_grow_with_the_rows(admin_client, make_product):
    product = make_product()
    other = make_product("Other")
    shared = queued_job(product).first_frame  # one Asset shared by every row
    ct = ContentType.objects.get_for_model(Product)
    statuses = [Status.QUEUED, Status.RUNNING, Status.SUCCEEDED, Status.FAILED]

    def add_rows(count: int) -> None:
        VideoRequest.objects.bulk_create([
            VideoRequest(first_frame=shared, prompt=f"row {i}", provider="gateway",
                         model="klingai/kling-v2.6-i2v", status=statuses[i % 4],
                         content_type=ct if i % 3 else None,
                         object_id=str((product if i % 2 else other).pk) if i % 3 else "")
            for i in range(count)
        ])

    def count_queries() -> int:
        admin_client.get(reverse(CHANGELIST))  # warm caches (content types, session)
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client.get(reverse(CHANGELIST))
        assert response.status_code == 200
        return len(ctx.captured_queries)

    add_rows(4)  # 5 rows with the first job
    small = count_queries()
    add_rows(195)  # 200 rows; a page shows 50 of them
    large = count_queries()
    assert small == large, f"{small} queries for 5 rows, {large} for 200"


def test_the_list_does_not_read_every_row(admin_client, make_product):
    """Provider and model choices come from the app's lists: Django's default filter ran a
    SELECT DISTINCT over the whole table on every view (100,000 jobs waiting: two scans), and
    the "(N total)" beside a filtered count was a COUNT of every job."""
    queued_job(make_product())
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    sql = [q["sql"].upper() for q in ctx.captured_queries]
    assert not [q for q in sql if "DISTINCT" in q]
    assert not [q for q in sql if "COUNT(" in q and "WHERE" not in q]
    filters = {spec.title: [choice["display"] for choice in spec.choices(response.context["cl"])]
               for spec in response.context["cl"].filter_specs}
    assert "gateway" in filters["provider"] and "fal" in filters["provider"]
    assert "Kling v2.6" in " ".join(map(str, filters["model"]))


def test_the_list_counts_up_to_a_limit_and_says_so(admin_client, make_product, monkeypatch):
    """Django's paginator counted every job the filters keep on each view (100,000 queued: a
    scan of them all); the list counts at most LIMIT + 1 rows and says when there are more."""
    from django_kling.admin import bounded_count

    monkeypatch.setattr(bounded_count, "LIMIT", 3)
    product = make_product()
    for _ in range(5):
        queued_job(product)
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(reverse(CHANGELIST))
    counts = [q["sql"].upper() for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 4" in sql for sql in counts), counts
    assert response.context["cl"].result_count == 3
    assert "Only the first 3 are counted and paged" in response.content.decode()
    monkeypatch.setattr(bounded_count, "LIMIT", 10)  # all counted: no note
    response = admin_client.get(reverse(CHANGELIST))
    assert response.context["cl"].result_count == 5
    assert "kling-count-bounded" not in response.content.decode()


# -- one request's page, by state -------------------------------------------------------------


def test_queued_page_shows_the_parameters(admin_client, make_product):
    job = queued_job(make_product(), prompt="The jar turns.", negative_prompt="blur")
    response = admin_client.get(change_url(job))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-kling-panel="{job.pk}"' in html and 'data-kling-status="queued"' in html
    assert "Waiting for a worker" in html
    assert "The jar turns." in html and "blur" in html
    assert job.first_frame.file.url in html
    assert "<video" not in html
    # Nothing on the page can be edited or saved.
    assert 'name="_save"' not in html and "<textarea" not in html


def test_running_page_shows_progress(admin_client, make_product):
    job = run_to(queued_job(make_product()), Status.RUNNING, poll_count=7)
    html = admin_client.get(change_url(job)).content.decode()
    assert "<progress" in html
    assert "elapsed (usually 1–5 minutes) · 7 status calls" in html
    assert "Cancel this request" in html  # superuser may cancel


def test_succeeded_page_shows_the_player_and_the_poster(admin_client, make_product):
    job = succeeded_job(make_product())
    html = admin_client.get(change_url(job)).content.decode()
    assert ('<video class="kling-player" controls preload="metadata" playsinline '
            f'poster="{job.poster.file.url}"') in html
    assert f'<source src="{job.video.file.url}" type="video/mp4">' in html
    assert "1920×1080, 5.0 s, 716.8\xa0KB" in html
    assert "Retry with the same inputs" not in html and "Cancel this request" not in html


def test_failed_page_shows_code_message_and_explanation_escaped(admin_client, make_product):
    job = queued_job(make_product(HOSTILE, description=HOSTILE), prompt=HOSTILE)
    fail(job, "generation_failed", HOSTILE)
    html = admin_client.get(change_url(job)).content.decode()
    assert "<code>generation_failed</code>" in html
    assert "The provider tried to make the clip and could not." in html
    assert "Retry with the same inputs" in html
    assert HOSTILE not in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_hostile_text_is_escaped_in_the_list(admin_client, make_product):
    product = make_product(HOSTILE)
    queued_job(product, prompt=HOSTILE)
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "<script>alert" not in html and "onerror=alert(1)>" not in html


def test_nobody_adds_or_edits_requests(admin_client, make_product):
    job = queued_job(make_product())
    assert admin_client.get(reverse("admin:django_kling_videorequest_add")).status_code == 403
    response = admin_client.post(change_url(job), {"prompt": "changed"})
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.prompt == ""


# -- live status --------------------------------------------------------------------------------


def test_status_endpoint_answers_in_json(make_product):
    user = make_staff("viewer", *KLING_VIEW)
    product = make_product()
    queued = queued_job(product)
    done = succeeded_job(product)
    client = login(user)
    response = client.get(status_url(), {"id": [str(queued.pk), str(done.pk), "junk"],
                                         "panel": str(done.pk)})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["in_flight"] is True
    assert data["jobs"][str(queued.pk)]["status"] == "queued"
    assert data["jobs"][str(queued.pk)]["final"] is False
    assert "panel" not in data["jobs"][str(queued.pk)]
    finished = data["jobs"][str(done.pk)]
    assert (finished["status"], finished["label"], finished["final"]) == (
        "succeeded", "Succeeded", True)
    assert "<video" in finished["panel"]
    # The review column follows too (issue 21): its markup for a clip that is done, none yet
    # for one that is not; the list's cell is marked for the script.
    assert "kling-review--pending" in finished["review"] and data["jobs"][str(queued.pk)][
        "review"] == ""
    listing = client.get(reverse("admin:django_kling_videorequest_changelist")).content.decode()
    assert f'data-kling-review="{queued.pk}"' in listing
    script = (Path(__file__).resolve().parent.parent
              / "django_kling/static/django_kling/admin/progress.js").read_text()
    assert "data-kling-review" in script


def test_status_endpoint_is_forbidden_without_view_permission(make_product):
    job = queued_job(make_product())
    nobody = make_staff("nobody", *PRODUCT_PERMS)
    assert login(nobody).get(status_url(), {"id": str(job.pk)}).status_code == 403


def test_status_endpoint_needs_staff(client, make_product):
    job = queued_job(make_product())
    response = client.get(status_url(), {"id": str(job.pk)})
    assert response.status_code == 302 and "/login/" in response["Location"]


# -- retry and cancel --------------------------------------------------------------------------


def test_retry_action_queues_a_new_request_with_the_same_inputs(producer, make_product):
    product = make_product()
    failed = queued_job(product, prompt="again", duration=10)
    fail(failed, "deadline", "too slow")
    still_queued = queued_job(product)
    response = login(producer).post(reverse(CHANGELIST), {
        "action": "retry_requests", "_selected_action": [failed.pk, still_queued.pk]},
        follow=True)
    assert response.status_code == 200
    retried = VideoRequest.objects.exclude(pk__in=[failed.pk, still_queued.pk]).get()
    assert (retried.status, retried.prompt, retried.duration) == ("queued", "again", 10)
    assert retried.first_frame_id == failed.first_frame_id
    assert retried.source_object == product and retried.created_by == producer
    messages = [str(m) for m in response.context["messages"]]
    assert "1 request was queued again." in messages
    assert any("1 request was skipped" in m for m in messages)


def test_cancel_action_cancels_queued_and_running(producer, make_product):
    product = make_product()
    queued, running, done = (queued_job(product), run_to(queued_job(product), Status.RUNNING),
                             succeeded_job(product))
    response = login(producer).post(reverse(CHANGELIST), {
        "action": "cancel_requests", "_selected_action": [queued.pk, running.pk, done.pk]},
        follow=True)
    statuses = dict(VideoRequest.objects.values_list("pk", "status"))
    assert statuses == {queued.pk: "canceled", running.pk: "canceled", done.pk: "succeeded"}
    messages = [str(m) for m in response.context["messages"]]
    assert "2 requests were canceled." in messages


def test_editor_without_permissions_gets_no_retry_or_cancel(editor, make_product):
    job = queued_job(make_product())
    client = login(editor)
    response = client.get(reverse(CHANGELIST))
    form = response.context["action_form"]
    assert form is None or not {"retry_requests", "cancel_requests"} & {
        name for name, _ in form.fields["action"].choices}
    page = client.get(change_url(job)).content.decode()
    assert "Cancel this request" not in page
    cancel = reverse("admin:django_kling_videorequest_cancel", args=[job.pk])
    assert client.post(cancel).status_code == 403
    job.refresh_from_db()
    assert job.status == "queued"


def test_buttons_on_the_page_retry_and_cancel(producer, make_product):
    product = make_product()
    job = queued_job(product)
    client = login(producer)
    cancel = reverse("admin:django_kling_videorequest_cancel", args=[job.pk])
    assert client.get(cancel).status_code == 405  # only by POST (the form's button)
    response = client.post(cancel)
    assert response.status_code == 302 and response["Location"] == change_url(job)
    job.refresh_from_db()
    assert job.status == "canceled"
    retry = reverse("admin:django_kling_videorequest_retry", args=[job.pk])
    response = client.post(retry)
    new = VideoRequest.objects.exclude(pk=job.pk).get()
    assert response["Location"] == change_url(new) and new.status == "queued"
    unknown = reverse("admin:django_kling_videorequest_retry", args=["not-a-uuid"])
    assert client.post(unknown).status_code == 404


# -- on the product's page -------------------------------------------------------------------


def test_product_page_lists_its_videos_inline(editor, make_product):
    product, other = make_product("Sea salt"), make_product("Other")
    done = succeeded_job(product, prompt="The jar turns.")
    running = run_to(queued_job(product), Status.RUNNING)
    elsewhere = queued_job(other)
    response = login(editor).get(reverse("admin:shop_product_change", args=[product.pk]))
    html = response.content.decode()
    assert f'data-kling-job="{done.pk}"' in html and f'data-kling-job="{running.pk}"' in html
    assert f'data-kling-job="{elsewhere.pk}"' not in html
    assert f'<source src="{done.video.file.url}"' in html and "The jar turns." in html
    assert "django_kling/admin/progress.js" in html
    assert change_url(done) in html  # "view" link to the request
    # Read-only: no inline form fields to add or change requests.
    assert "django_kling-videorequest-content_type-object_id-TOTAL_FORMS" in html
    assert 'name="django_kling-videorequest-content_type-object_id-0-prompt"' not in html


def test_an_empty_videos_inline_says_how_to_make_one(editor, make_product):
    # Issue 21: not only the table's headers. Saving the object still works (the inline's
    # management form is there).
    product = make_product("Sea salt")
    client = login(editor)
    url = reverse("admin:shop_product_change", args=[product.pk])
    response = client.get(url)
    html = response.content.decode()
    empty = re.search(r'<p class="kling-inline-empty">(.*?)</p>', html, re.S)
    assert empty and "No video yet" in empty.group(1) and "Generate video" in empty.group(1)
    assert "django_kling-videorequest-content_type-object_id-TOTAL_FORMS" in html
    form = response.context["adminform"].form
    data = {name: form[name].value() or "" for name in ("name", "description")}
    data.update({key: value for key, value in re.findall(
        r'name="(django_kling-videorequest-content_type-object_id-[A-Z_]+)" value="(\d*)"',
        html)})
    data["image"] = ""
    saved = client.post(url, data)
    assert saved.status_code in (200, 302)
    assert "ManagementForm" not in saved.content.decode()


def test_inline_is_hidden_from_users_who_cannot_view_requests(make_product):
    product = make_product()
    queued_job(product)
    user = make_staff("plain", *PRODUCT_PERMS)
    html = login(user).get(reverse("admin:shop_product_change", args=[product.pk])).content
    assert b"data-kling-job" not in html


# -- assets -------------------------------------------------------------------------------------


def test_asset_pages_show_previews_metadata_and_sizes(admin_client, make_product):
    job = succeeded_job(make_product())
    listing = admin_client.get(reverse("admin:django_kling_asset_changelist"))
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "716.8\xa0KB" in html and "1920 × 1080" in html
    video_page = admin_client.get(reverse("admin:django_kling_asset_change",
                                          args=[job.video.pk])).content.decode()
    assert '<video class="kling-player" controls preload="metadata"' in video_page
    assert "kling/test/clip.mp4" in video_page and "5.00 s" in video_page
    image_page = admin_client.get(reverse("admin:django_kling_asset_change",
                                          args=[job.first_frame.pk])).content.decode()
    assert job.first_frame.file.url in image_page and "<img" in image_page
    assert admin_client.get(reverse("admin:django_kling_asset_add")).status_code == 403


def test_a_requests_page_names_it_and_says_what_the_clip_has(admin_client, make_product):
    # Issue 21: the title is not a UUID, and a silent clip is not labelled "sound".
    job = queued_job(make_product("Sea salt"), sound=False)
    html = admin_client.get(reverse("admin:django_kling_videorequest_change",
                                    args=[job.pk])).content.decode()
    title = html[html.index("<title>"):html.index("</title>")]
    assert "Sea salt" in title and str(job.pk) not in title
    assert f"{job.created_at:%Y-%m-%d}" in str(job)
    assert "Pro (1080p, silent)" in html and "Pro (1080p, sound, last frame)" not in html
