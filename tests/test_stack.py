"""Which stack this run tests: each nox session says what it expects to have installed.

Without ``KLING_EXPECT_STACK`` (``make test``) only the floors are checked; in a session, a
resolver that quietly picked an older release would otherwise go unnoticed.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version

import pytest


def release(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version(name).split(".")[:2] if part.isdigit())


STACK = os.environ.get("KLING_EXPECT_STACK", "")


def test_supported_floors():
    assert sys.version_info >= (3, 10)
    assert release("django") >= (5, 2)
    assert release("av") >= (12, 3)
    assert release("pillow") >= (10, 4)


@pytest.mark.skipif(STACK != "newest", reason="only the 'newest' nox session")
def test_newest_stack_is_current():
    assert sys.version_info[:2] == (3, 13)
    assert release("django") >= (6, 1)
    assert release("av") >= (19, 0)
    assert release("pillow") >= (13, 0)
    assert release("dramatiq") >= (2, 0)


@pytest.mark.skipif(STACK != "oldest", reason="only the 'oldest' nox session")
def test_oldest_stack_is_the_floor():
    assert sys.version_info[:2] == (3, 10)
    assert version("django") in ("5.2", "5.2.0")
    assert version("av") == "12.3.0"
    assert version("pillow") == "10.4.0"
    assert version("dramatiq") == "1.17.0"


@pytest.mark.skipif(STACK != "oldest", reason="only the 'oldest' nox session")
def test_oldest_stack_runs_the_laptop_path():
    """CI's oldest session is the README's `make test` on a laptop: SQLite and the in-memory
    broker, no services (a leak that only showed there once broke `make test`; issue 21)."""
    import dramatiq
    from django.db import connection
    from dramatiq.brokers.stub import StubBroker

    assert connection.vendor == "sqlite"
    assert isinstance(dramatiq.get_broker(), StubBroker)
    assert not os.environ.get("DATABASE_URL") and not os.environ.get("REDIS_URL")


@pytest.mark.skipif(STACK != "django60", reason="only the 'django60' nox session")
def test_django_60_stack():
    assert release("django") == (6, 0)
