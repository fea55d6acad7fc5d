"""The pages' views, kept per process while nothing was written: keyed by the audit chain's head and the
read version.

Every committed write moves one of them: the read version (models.ReadVersion, moved by the unit of work in
the writing transaction, db/uow.py) moves with every write of a record, also those that append no audit
event (a run's lease renewal, a run's notes); the head's seq moves with every audited write, also the one the
read version leaves (a new draft alone in its unit of work). A view read under one (head, version) is the view
of every later request under that pair. The pair is read first, in the same read transaction as the view
(one snapshot), so a view is never stored under a newer pair than the data it holds. Views that depend on
the time ("as if deployed now", blackouts in force now, overdue emergencies) are also keyed by the minute:
they are at most a minute old, and say at what time they were made where it matters (the gate's caption).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TypeVar

from ..db.uow import UnitOfWork
from .views import facts_of

T = TypeVar("T")
CACHED_VIEWS = 128  # per process; a dashboard view is a few kilobytes
KEPT_TEXT = 256 * 1024  # characters: a change page whose previews hold more is built afresh every time, so
                        # at most CACHED_VIEWS × KEPT_TEXT characters of preview text stay in memory


def generation(uow: UnitOfWork) -> tuple[int, int]:
    """The audit chain's head and the read version (db/read_version.py), what every write moves between them:
    an audited write moves the head, any other committed write the version (read it first in the unit of work)."""
    return uow.web_reads.head()


def minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


class ViewCache:
    """A small LRU of views. Thread-safe; the same view may be computed twice by a race, never wrongly."""

    def __init__(self, size: int = CACHED_VIEWS):
        self.size = size
        self._views: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: Hashable) -> object | None:
        """The view kept under ``key``, or None."""
        with self._lock:
            view = self._views.get(key)
            if view is not None:
                self._views.move_to_end(key)
            return view

    def put(self, key: Hashable, view: object) -> None:
        with self._lock:
            self._views[key] = view
            while len(self._views) > self.size:
                self._views.popitem(last=False)

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


KEPT_RECORDS = 4096  # per process; a record of a change with its items, approvals and evidence ids is ~2 KB


class RecordCache:
    """Plain change records (db/repositories/web_reads.py) kept per process, keyed by (id, row_version): every
    write to a change or to its approvals, evidence or comments bumps its row_version
    (``ChangeRepository.touch``), so a kept record is the record as stored. The dashboard and the queue look
    at hundreds of waiting changes; after a write, only the changed ones are read again."""

    def __init__(self, size: int = KEPT_RECORDS):
        self._records = ViewCache(size)

    def records(self, uow: UnitOfWork, versions: list[tuple]) -> list:
        """The records of ``versions`` (as ``change_versions`` answers), in that order: kept ones from
        memory, the others read in one go."""
        found = {v[0]: r for v in versions if (r := self._records.peek(tuple(v))) is not None}
        missing = [v for v in versions if v[0] not in found]
        if missing:
            for record in uow.web_reads.change_records(ids=[v[0] for v in missing], limit=len(missing)):
                record.facts = facts_of(record)  # what approvals are checked against, made once per version
                record.roles_for = {}  # (id(policy), person) -> the roles they may decide in (dashboard.py)
                key = (record.id, record.row_version)
                self._records.put(key, record)
                found[record.id] = record
        return [found[v[0]] for v in versions if v[0] in found]


KEPT_PAGES = 128  # change records with their evidence previews: at most KEPT_PAGES × KEPT_TEXT characters
KEPT_HISTORIES = 512


class PageParts:
    """What a fresh change page reads that a write elsewhere rarely changes, kept per process: the change's
    record with its evidence previews, by (id, row_version) as RecordCache keeps records; and each
    change's audit history, which only grows: the kept events are checked by the last one's hash, and only the
    newer ones are read."""

    def __init__(self):
        self._pages = ViewCache(KEPT_PAGES)
        self._histories = ViewCache(KEPT_HISTORIES)

    def record(self, uow: UnitOfWork, change_id: int, previews: Callable) -> tuple[object | None, tuple]:
        """The change's record and ``previews(record)``, kept while its version stays (None if no such change)."""
        version = uow.web_reads.change_version(change_id)
        if version is None:
            return None, ({}, None)
        kept = self._pages.peek(version)
        if kept is not None:
            return kept
        record = uow.web_reads.change_record(change_id)
        parts = (record, previews(record))
        if sum(len(text) for text in parts[1][0].values()) <= KEPT_TEXT:
            self._pages.put(version, parts)
        return parts

    def history(self, uow: UnitOfWork, entity: str, convert: Callable) -> list:
        """``convert(event)`` of every audit event of ``entity``, oldest first."""
        kept = self._histories.peek(entity)
        if kept is not None:
            events, last = kept
            newer = uow.web_reads.events_from(entity, last.seq)
            if newer and newer[0].seq == last.seq and newer[0].hash == last.hash:  # the chain we kept, grown
                if len(newer) == 1:
                    return events
                events = [*events, *map(convert, newer[1:])]
                self._histories.put(entity, (events, newer[-1]))
                return events
        found = uow.web_reads.events_from(entity, 0)
        events = [convert(e) for e in found]
        if found:
            self._histories.put(entity, (events, found[-1]))
        return events
