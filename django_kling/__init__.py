"""django-kling: turn any uploaded image into a short video with sound (Kling v2.6 i2v)."""

__version__ = "0.2.0"
