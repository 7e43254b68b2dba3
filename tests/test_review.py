"""Review and the featured clip: what templates may show, the decisions, the database's rule."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, connections, transaction
from django.template import Context, Template
from django.utils import translation

from django_kling.editorial import review
from django_kling.exceptions import ReviewError
from django_kling.jobs import create_video_request
from django_kling.models import ReviewStatus, Status, VideoRequest
from django_kling.signals import video_approved, video_rejected
from django_kling.site.clips import (
    clips_of,
    featured_clip,
    latest_clip,
    prefetch_clips,
    resolve_clip,
)
from tests.shop.models import Product

from .test_templatetags import make_clip, make_product


def render(source: str, **context) -> str:
    return Template("{% load kling %}" + source).render(Context(context))


@pytest.fixture
def product(db, sandbox, make_image) -> Product:
    return make_product(make_image, name="Sea Salt")


@pytest.fixture
def pending(product) -> VideoRequest:
    return make_clip(product, approved=False)


def copy_clip(job: VideoRequest, **fields) -> VideoRequest:
    """Another succeeded request for the same object, sharing the stored clip (the fallback
    rules only read the rows; making more real clips would only slow the tests). Not its
    provider task: the database holds one request per task."""
    values = {f.attname: getattr(job, f.attname) for f in VideoRequest._meta.concrete_fields
              if f.attname not in ("id", "idempotency_key", "created_at", "updated_at",
                                   "operation_id")}
    values.update(fields)
    return VideoRequest.objects.create(**values)


def shown_everywhere(product: Product, job: VideoRequest) -> list:
    """What each way a template reaches a clip gives for this object and this request."""
    fresh = Product.objects.get(pk=product.pk)
    prefetched = prefetch_clips(Product.objects.filter(pk=product.pk))[0]
    return [render("{% kling_video obj %}", obj=fresh),
            render("{% kling_video_url obj %}", obj=fresh),
            render("{% kling_video_jsonld obj %}", obj=fresh),
            render("{{ obj|kling_clips|length }}", obj=fresh),
            render("{% kling_video job %}", job=job),
            featured_clip(fresh), latest_clip(fresh), clips_of(prefetched),
            resolve_clip(job), resolve_clip(job.video)]


NOTHING = ["", "", "", "0", "", None, None, [], None, None]


def test_unapproved_clips_never_reach_templates(pending, product):
    assert pending.review_status == ReviewStatus.PENDING
    assert shown_everywhere(product, pending) == NOTHING

    review.approve(pending, note="Good light.")
    shown = shown_everywhere(product, pending)
    assert "<video" in shown[0] and shown[1].endswith(".mp4") and "VideoObject" in shown[2]
    assert shown[3] == "1" and "<video" in shown[4]
    assert all(clip is not None and clip.video.pk == pending.video_id
               for clip in (shown[5], shown[6], shown[8], shown[9]))

    review.reject(pending, note="The label is blurred.")
    assert shown_everywhere(product, pending) == NOTHING


def test_without_require_approval_only_rejected_clips_are_hidden(pending, product, settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "REQUIRE_APPROVAL": False}
    assert "<video" in render("{% kling_video obj %}", obj=product)
    review.reject(pending)
    assert shown_everywhere(product, pending) == NOTHING


def test_decisions_record_who_when_and_why_and_signal_after_commit(
        pending, django_user_model, django_capture_on_commit_callbacks):
    editor = django_user_model.objects.create_user("rev", password="x")  # noqa: S106
    received = []

    def listen(signal_name):
        def receiver(sender, request, by, note, **kwargs):
            received.append((signal_name, request.pk, by, note))
        return receiver

    approved, rejected = listen("approved"), listen("rejected")
    video_approved.connect(approved)
    video_rejected.connect(rejected)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            job = review.approve(pending, by=editor, note="  Nice.  ")
        assert received == []  # nothing before the commit
        for callback in callbacks:
            callback()
        assert received == [("approved", pending.pk, editor, "Nice.")]
        job.refresh_from_db()
        assert (job.review_status, job.reviewed_by, job.review_note) == ("approved", editor,
                                                                         "Nice.")
        assert job.reviewed_at is not None and pending.review_status == "approved"

        with django_capture_on_commit_callbacks(execute=True):
            review.approve(job, by=editor)  # no change: no second signal
            review.reject(job, by=editor, note="Wrong colour.")
        assert [r[0] for r in received] == ["approved", "rejected"]
    finally:
        video_approved.disconnect(approved)
        video_rejected.disconnect(rejected)


def test_only_finished_clips_are_reviewed_and_only_approved_ones_featured(
        pending, make_image, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        queued = create_video_request(make_image())
    with pytest.raises(ReviewError) as error:
        review.approve(queued)
    assert error.value.code == "review_not_succeeded" and isinstance(error.value, ValueError)
    with pytest.raises(ReviewError) as error:
        review.feature(pending)
    assert error.value.code == "feature_not_approved"
    review.reject(pending)
    with pytest.raises(ReviewError):
        review.feature(pending)
    assert not VideoRequest.objects.filter(featured=True).exists()


def test_featuring_moves_the_badge_and_rejecting_takes_it_away(pending, product):
    older = review.approve(pending)
    newer = review.approve(copy_clip(pending))
    assert featured_clip(product).request.pk == newer.pk  # no choice: the newest approved
    review.feature(older)
    assert featured_clip(Product.objects.get(pk=product.pk)).request.pk == older.pk
    review.feature(newer)
    assert list(VideoRequest.objects.filter(featured=True).values_list("pk", flat=True)) == [
        newer.pk]
    review.reject(newer)
    newer.refresh_from_db()
    assert not newer.featured
    assert featured_clip(Product.objects.get(pk=product.pk)).request.pk == older.pk


def test_language_fallback_order(pending, product):
    neutral = review.approve(pending)
    english = review.approve(copy_clip(pending, language="en"))
    chinese_old = review.approve(copy_clip(pending, language="zh"))
    chinese_new = review.approve(copy_clip(pending, language="zh"))

    def pick(**kwargs):
        return featured_clip(Product.objects.get(pk=product.pk), **kwargs).request.pk

    assert pick(language="zh") == chinese_new.pk  # newest of the language
    review.feature(chinese_old)
    assert pick(language="zh") == chinese_old.pk  # the featured one of the language
    assert pick(language="en") == english.pk
    with translation.override("zh-hans"):  # the active language by default
        assert pick() == chinese_old.pk
        assert str(chinese_old.pk) in render("{% kling_clip obj as c %}{{ c.request.pk }}",
                                        obj=Product.objects.get(pk=product.pk))
    assert pick(language="fr") == neutral.pk  # no such speech: the language-neutral clip
    review.reject(neutral)
    # Neither the language nor a neutral clip: any approved one (the featured one first).
    assert pick(language="fr") == chinese_old.pk


def test_aspect_picks_the_clip_whose_format_fits(pending, product):
    landscape = review.approve(pending)
    portrait = review.approve(copy_clip(pending, aspect_ratio="9:16"))
    fresh = Product.objects.get(pk=product.pk)
    assert featured_clip(fresh, aspect="16:9").request.pk == landscape.pk
    assert featured_clip(fresh, aspect="9:16").request.pk == portrait.pk
    assert featured_clip(fresh, aspect="1:1") is None
    markup = render('{% kling_video obj aspect="9:16" as c %}{{ c.request.aspect_ratio }}',
                    obj=fresh)
    assert markup == "9:16"


def test_the_database_refuses_a_second_featured_clip_in_a_slot(pending):
    first = review.feature(review.approve(pending))
    other = review.approve(copy_clip(pending))
    with pytest.raises(IntegrityError), transaction.atomic():
        VideoRequest.objects.filter(pk=other.pk).update(featured=True)
    # Another slot (another language) may have its own featured clip.
    chinese = review.approve(copy_clip(pending, language="zh"))
    review.feature(chinese)
    assert set(VideoRequest.objects.filter(featured=True).values_list("pk", flat=True)) == {
        first.pk, chinese.pk}


def run_at_once(*actions):
    """Run each action in its own thread (and database connection), released together."""
    barrier = threading.Barrier(len(actions))
    results: list = [None] * len(actions)

    def run(index, action):
        try:
            barrier.wait()
            results[index] = action()
        except Exception as exc:  # noqa: BLE001  (the test reads what happened)
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="needs row locks and concurrent connections: PostgreSQL "
                           "(SQLite serializes every write, so there is no race to test)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_picks_leave_exactly_one_featured_clip(sandbox, make_image):
    product = make_product(make_image, name="Race")
    first = review.approve(make_clip(product, approved=False))
    second = review.approve(copy_clip(first))

    # Through the code: the slot lock serves the two picks one after the other.
    results = run_at_once(lambda: review.feature(first), lambda: review.feature(second))
    assert all(isinstance(r, VideoRequest) for r in results), results
    assert VideoRequest.objects.filter(featured=True).count() == 1

    # Around the code, straight to the database: the constraint lets exactly one win.
    VideoRequest.objects.update(featured=False)

    def raw(pk):
        def write():
            with transaction.atomic():
                return VideoRequest.objects.filter(pk=pk).update(featured=True)
        return write

    results = run_at_once(raw(first.pk), raw(second.pk))
    assert sorted(type(r).__name__ for r in results) == ["IntegrityError", "int"], results
    assert VideoRequest.objects.filter(featured=True).count() == 1


def command(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_kling_review_command(pending):
    output = command("kling_review", str(pending.pk)[:8], "--approve", "--note", "Crisp.",
                     "--feature")
    assert "Approved, featured" in output
    pending.refresh_from_db()
    assert (pending.review_status, pending.review_note, pending.featured) == (
        "approved", "Crisp.", True)
    detail = command("kling_status", str(pending.pk))
    assert "review: approved, featured (Crisp.)" in detail and "language: -" in detail
    assert "Rejected" in command("kling_review", str(pending.pk), "--reject")
    pending.refresh_from_db()
    assert not pending.featured and pending.status == Status.SUCCEEDED
    with pytest.raises(CommandError, match="review_not_succeeded|No single"):
        command("kling_review", "ffffffff", "--approve")
    with pytest.raises(CommandError):
        command("kling_review", str(pending.pk))  # neither --approve nor --reject
