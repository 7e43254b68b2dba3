"""Named lock rows: serialize a read and the write it guards, on every database.

``hold("budget")`` updates the row of that name; the UPDATE holds a row lock on PostgreSQL
(and MySQL) and the database's write lock on SQLite until the transaction ends, so whatever
the caller reads next cannot change under it before its own write commits.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from ..models import BudgetLock


def hold(name: str) -> None:
    """Take the lock ``name`` until the current transaction ends (call inside ``atomic``)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("locks.hold() must run inside transaction.atomic()")
    if not BudgetLock.objects.filter(name=name).update(updated_at=timezone.now()):
        BudgetLock.objects.get_or_create(name=name)  # first use, or a flushed test database
        BudgetLock.objects.filter(name=name).update(updated_at=timezone.now())


def skip_locked() -> bool:
    """Whether the database has ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL does)."""
    return bool(connection.features.has_select_for_update_skip_locked)
