"""Signals a host project can listen to. Each is sent once per request, after the commit.

- ``video_requested(sender=VideoRequest, request=<VideoRequest>)``: a job was created and queued.
- ``video_ready(sender=VideoRequest, request=<VideoRequest>, video=<Asset>, poster=<Asset>)``:
  the clip and its poster are stored.
- ``video_failed(sender=VideoRequest, request=<VideoRequest>, code=<str>, message=<str>)``:
  the job ended in ``failed``.
"""

from django.dispatch import Signal

video_requested = Signal()
video_ready = Signal()
video_failed = Signal()
