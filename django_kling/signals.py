"""Signals a host project can listen to.

Each is sent exactly once per request, after the transaction that made the change committed
(a receiver that reads the database sees it), whatever retries or duplicate messages happened
on the way. ``sender`` is always the ``VideoRequest`` class. ``video_ready`` and
``video_failed`` are sent from the worker process that ran the job, ``video_requested`` from
the process that created it (a web request, a command).

``video_requested(sender, request)``
    ``request``: the new ``VideoRequest`` (status ``queued``), sent once its ``submit``
    message is on the queue. ``retry_video_request`` sends it for the new request.

``video_ready(sender, request, video, poster)``
    ``request``: the ``VideoRequest``, now ``succeeded``; ``video``: its video ``Asset``
    (``file``, ``width``, ``height``, ``duration``, ``fps``, ``has_audio``, ``size``);
    ``poster``: its poster ``Asset`` (a JPEG of the first frame, same size). The source
    object is ``request.source_object`` (``request.content_type``/``object_id``/
    ``field_name``).

``video_failed(sender, request, code, message)``
    ``request``: the ``VideoRequest``, now ``failed``; ``code``: a stable error code (the same
    as ``request.error_code``, e.g. ``generation_failed``, ``deadline``, ``download_expired``);
    ``message``: a plain-text reason an editor can read (never a secret).

``video_approved(sender, request, by, note)`` / ``video_rejected(sender, request, by, note)``
    ``request``: the ``VideoRequest`` just approved or rejected (``review_status``,
    ``reviewed_by``, ``reviewed_at``, ``review_note`` set); ``by``: the reviewer (a user, or
    None from a command); ``note``: the reviewer's note. Sent by ``django_kling.editorial.review``
    from the process of the reviewer, after the commit; a repeated approval sends nothing.

A receiver that raises does not undo or repeat anything: the job has already moved on. The
error is logged (logger ``django.dispatch``) and the other receivers still run: these
signals are sent robustly, even through ``send()``.

Example: publish a product when a reviewer approves its clip::

    @receiver(video_approved)
    def publish(sender, request, **kwargs):
        if request.content_type == ContentType.objects.get_for_model(Product):
            Product.objects.filter(pk=request.object_id).update(published=True)
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal


class RobustSignal(Signal):
    """A signal whose ``send`` never lets a receiver's error escape to the sender.

    These signals are sent from ``transaction.on_commit`` callbacks inside the job steps: an
    exception there would reach code that believes the commit failed (and, for example,
    deletes the clip it had just stored). ``send_robust`` catches it and Django logs it.
    """

    def send(self, sender: Any, **named: Any) -> list[tuple[Any, Any]]:
        return self.send_robust(sender, **named)


video_requested = RobustSignal()
video_ready = RobustSignal()
video_failed = RobustSignal()
video_approved = RobustSignal()
video_rejected = RobustSignal()
