"""What a site shows: the clips of an object and their schema.org data.

Holds ``clips`` (``Clip``, the featured clip of an object, prefetching for list pages) and
``jsonld`` (a ``VideoObject`` for search engines). The template tags in ``templatetags`` and the
Wagtail blocks render what these return.

May use: ``jobs``, ``flow``, the records, ``files``, ``providers`` and the base. Never
``editorial`` (a room of the same rank) nor the template tags, admin or Wagtail app above it.
"""
