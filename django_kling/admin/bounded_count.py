"""A change list paginator that counts at most ``LIMIT`` rows.

Django's paginator counts every row the list's filters keep (``COUNT(*)``) on each view of the
list. With a catalogue queued at once, every job is "in progress": at 100,000 waiting jobs that
count was the request list's one statement whose time grew with the table (a scan of them all,
146 ms on PostgreSQL, against 0.4 ms for the page's own rows). Counting over ``LIMIT + 1`` rows
costs the same at any size. Past the limit, the pages stop at it and the list says so; filters
and search reach the rest.
"""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator

#: Rows counted at most (20 pages of 50): what an editor pages through; filters find the rest.
LIMIT = 1_000


class BoundedCountPaginator(Paginator):
    """``count`` is the rows kept, or ``LIMIT`` when there are more (``bounded`` then True)."""

    bounded = False

    @cached_property
    def count(self) -> int:
        counted = self.object_list[:LIMIT + 1].count()  # COUNT(*) over a LIMIT subquery
        self.bounded = counted > LIMIT
        return min(counted, LIMIT)
