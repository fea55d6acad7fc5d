"""The pages' views, kept per process while nothing was written: keyed by the audit chain's head.

Every write of changegate's records appends an audit event in the same transaction (house rule), so the
head's seq moves with every change, approval, evidence, comment, freeze, run step or CMDB edit. A view
read under one head is the view of every later request under that head. The head is read first, in the
same read transaction as the view (one snapshot), so a view is never stored under a newer head than the
data it holds. Views that depend on the time ("as if deployed now", blackouts in force now, overdue
emergencies) are also keyed by the minute: they are at most a minute old, and say at what time they
were made where it matters (the gate's caption).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TypeVar

from ..db.uow import UnitOfWork

T = TypeVar("T")
CACHED_VIEWS = 128  # per process; a dashboard view is a few kilobytes
KEPT_TEXT = 256 * 1024  # characters: a change page whose previews hold more is built afresh every time, so
                        # at most CACHED_VIEWS × KEPT_TEXT characters of preview text stay in memory


def generation(uow: UnitOfWork) -> int:
    """The audit chain's head: what every write moves (read it first in the unit of work)."""
    return uow.audit.head()[0]


def minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


class ViewCache:
    """A small LRU of views. Thread-safe; the same view may be computed twice by a race, never wrongly."""

    def __init__(self, size: int = CACHED_VIEWS):
        self.size = size
        self._views: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T], keep: Callable[[T], bool] = lambda view: True) -> T:
        """The view kept under ``key``, or a new one from ``make``, kept if ``keep`` says so."""
        with self._lock:
            if key in self._views:
                self._views.move_to_end(key)
                return self._views[key]  # type: ignore[return-value]
        view = make()
        if not keep(view):
            return view
        with self._lock:
            self._views[key] = view
            while len(self._views) > self.size:
                self._views.popitem(last=False)
        return view


def small_enough(page) -> bool:
    """A change page view worth keeping: its evidence previews hold at most KEPT_TEXT characters."""
    return sum(len(text) for text in page.previews.values()) <= KEPT_TEXT
