"""``django_kling.contrib.wagtail``: clips from Wagtail images, in Wagtail's admin and pages.

Install with ``pip install "django-kling[wagtail]"`` and add ``"django_kling.contrib.wagtail"``
to ``INSTALLED_APPS`` (before ``"wagtail.images"``, whose image edit page it extends). It adds:

- a "Generate video" bulk action on the image listing (and a button on each image's page),
- a "Videos" menu item: the requests with filters, a player, retry, cancel and review,
- a clip chooser and the ``KlingVideoBlock`` / ``FeaturedClipBlock`` StreamField blocks.

The core app never imports Wagtail; only this package does.
"""
