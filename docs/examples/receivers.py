"""Signal receivers, shown by docs/deployment.rst and exercised by tests/test_docs.py."""

# docs: start
import logging

from django.dispatch import receiver

from django_kling.signals import video_failed, video_ready

logger = logging.getLogger("myshop.videos")


@receiver(video_ready, dispatch_uid="myshop.clip_ready")
def clip_ready(sender, request, video, poster, **kwargs):
    # Sent once per request, after the commit, from the worker that stored the clip.
    logger.info("clip ready for %s: %s (%.1f s)", request.source_object, video.file.name,
                video.duration)


@receiver(video_failed, dispatch_uid="myshop.clip_failed")
def clip_failed(sender, request, code, message, **kwargs):
    logger.warning("clip failed for %s [%s]: %s", request.source_object, code, message)
# docs: end
