"""The unit of work: the only place that commits (house rule 5).

A service does its reads and writes, audit rows included, inside one unit of
work; leaving the ``with`` block commits all of it or nothing. A refusal
(``Refused``/``Forbidden`` carrying an audit record) rolls the work back and then
records the refused attempt in a transaction of its own, so refusals are
audited too.
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ..core.audit import AuditRecord
from ..core.errors import ChangegateError, Conflict, Unavailable
from .engine import WRITE_OPTION, WRITER_WAIT_SECONDS, writer_lock
from .reads import ScheduleReads
from .repositories import (
    AuditRepository,
    ChangeRepository,
    CmdbRepository,
    DispatchRepository,
    ConflictAcceptanceRepository,
    CredentialRepository,
    EnvironmentFactRepository,
    EvidenceRepository,
    FreezeRepository,
    PlanRepository,
    RunRepository,
    TokenRepository,
)
from .repositories.web_reads import WebReads


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


_writing_engines: "weakref.WeakKeyDictionary[Engine, Engine]" = weakref.WeakKeyDictionary()


def _writing(engine: Engine) -> Engine:
    """The engine with the write option (SQLite: BEGIN IMMEDIATE), made once per engine: building it
    per unit of work cost a tenth of a short write."""
    writing = _writing_engines.get(engine)
    if writing is None:
        writing = _writing_engines[engine] = engine.execution_options(**{WRITE_OPTION: True})
    return writing


# Every committed write moves the read version (models.ReadVersion), in its own transaction, so a view a
# process keeps under the version it was read at is known stale by the next request of every process.
_MOVE_READ_VERSION = "UPDATE read_versions SET version = version + 1 WHERE id = 1"


class UnitOfWork:
    def __init__(self, engine: Engine, *, write: bool = True, clock: Callable[[], datetime] = utcnow):
        self._moves_reads = write  # every committed write moves the read version (but leaves_kept_views_valid)
        self._base_engine = engine
        self._engine = _writing(engine) if write else engine
        self._writer_lock = writer_lock(engine) if write else None
        self.write = write
        self.clock = clock

    @property
    def url_for_other_processes(self) -> str | None:
        """The URL another process would open to reach this same database; None for an in-memory
        SQLite database, where it would get a new, empty one. It holds the password: keep it out
        of logs and messages."""
        url = self._engine.url
        if url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:")
                                                   or url.query.get("mode") == "memory"):
            return None
        return url.render_as_string(hide_password=False)

    def read_snapshot(self) -> None:
        """Make every read of this unit of work see one snapshot of the database; call it first.

        SQLite's read transaction is one snapshot already; PostgreSQL's default (READ COMMITTED)
        takes a new one for each statement, so it moves to REPEATABLE READ (possible only before
        the first statement: later, the transaction is already under way and keeps its level)."""
        if self._engine.dialect.name == "postgresql" and not self.session.in_transaction():
            self.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})

    def __enter__(self) -> "UnitOfWork":
        if self._writer_lock is not None and not self._writer_lock.acquire(timeout=WRITER_WAIT_SECONDS):
            raise Unavailable(f"the database is busy: other writers held it for {WRITER_WAIT_SECONDS} s; "
                              "try again")
        self.session = Session(bind=self._engine, expire_on_commit=False, autoflush=True)
        self._views_valid_with: int | None = None  # leaves_kept_views_valid
        s = self.session
        self.changes = ChangeRepository(s)
        self.evidence = EvidenceRepository(s)
        self.audit = AuditRepository(s)
        self.tokens = TokenRepository(s)
        self.freezes = FreezeRepository(s)
        self.environment_facts = EnvironmentFactRepository(s)
        self.conflict_acceptances = ConflictAcceptanceRepository(s)
        self.schedule_reads = ScheduleReads(s)  # the Core reads a ReadOnlyUnit offers too (db/reads.py)
        self._afterwards: list[tuple[AuditRecord, datetime]] = []
        self.credentials = CredentialRepository(s)
        self.web_reads = WebReads(s)  # the pages' lists as plain records (db/repositories/web_reads.py)
        self.plans, self.runs = PlanRepository(s), RunRepository(s)
        self.cmdb = CmdbRepository(s)
        self.dispatch = DispatchRepository(s)  # the job engine's leases (changegate.jobs)
        return self

    def leaves_kept_views_valid(self) -> None:
        """Declare that this unit of work's one audited write is something no kept view holds, so it need not
        move the read version: a new change is a draft of its own (services/changes.py: create_change).
        Honoured only while that write's event is the only one queued, at the declaration and at the commit:
        a caller that did or does anything else in the same unit of work (the demo's loader, say) moves it."""
        self._views_valid_with = self.audit.pending_count()

    def _leaves_views_valid(self) -> bool:
        return self._views_valid_with == 1 and self.audit.pending_count() == 1

    def audit_afterwards(self, record: AuditRecord, now: datetime) -> None:
        """Audit what a reading unit of work decided (a gate decision): when the block ends without
        error, the event is appended in a write transaction of its own, grouped with those of other
        threads appending at the same moment (``GroupCommit``); the block returns only once it is
        committed, and raises if it could not be. Not from inside another unit of work: on SQLite
        the batch's writer would wait for that one's writer queue."""
        self._afterwards.append((record, now))

    def __exit__(self, exc_type, exc, tb) -> None:
        self._exit(exc)
        if exc is None and self._afterwards:
            group_commit(self._base_engine).append(self._afterwards)

    def _exit(self, exc) -> None:
        try:
            if exc is None:
                try:
                    if self._moves_reads and not self._leaves_views_valid():
                        self.session.flush()
                        self.session.connection().exec_driver_sql(_MOVE_READ_VERSION)
                    self.audit.write_pending()  # the chain's head is locked from here to the commit
                    self.session.commit()
                except (StaleDataError, IntegrityError) as err:
                    self.session.rollback()
                    raise _conflict(err) from err
                except OperationalError as err:
                    self.session.rollback()
                    busy = _busy(err)
                    if busy is None:
                        raise
                    raise busy from err
                return
            self.session.rollback()
            if isinstance(exc, (StaleDataError, IntegrityError)):
                raise _conflict(exc) from exc
            if isinstance(exc, OperationalError) and _busy(exc) is not None:
                raise _busy(exc) from exc
            record = getattr(exc, "audit", None)
            if isinstance(exc, ChangegateError) and record is not None:
                self._record_refusal(record)
        finally:
            try:
                self.session.close()
            finally:
                if self._writer_lock is not None:
                    self._writer_lock.release()

    def _record_refusal(self, record) -> None:
        """A short write transaction of its own, in every mode: a read-only unit of work (a refused
        SQL check, a refused `audit verify`) records its refusals too. On SQLite it takes its turn in
        the writer queue (a writing unit of work holds it already; the lock is re-entrant)."""
        lock = None if self.write else writer_lock(self._base_engine)
        if lock is not None and not lock.acquire(timeout=WRITER_WAIT_SECONDS):
            raise Unavailable(f"the database is busy: other writers held it for {WRITER_WAIT_SECONDS} s; "
                              "the refused attempt could not be recorded; try again")
        try:
            engine = _writing(self._base_engine)  # SQLite: BEGIN IMMEDIATE
            with Session(bind=engine, expire_on_commit=False) as session:
                audit = AuditRepository(session)
                audit.append(record, self.clock())
                audit.write_pending()
                session.commit()
        finally:
            if lock is not None:
                lock.release()


class GroupCommit:
    """Group commit for events that are appended alone (gate decisions): one write transaction appends
    the events of every thread waiting at that moment, and each caller returns once the transaction
    holding its event committed. The chain and its proof are unchanged (every event is hashed onto the
    one chain, in one order); the head's lock, SQLite's writer and the commit are paid once per batch
    instead of once per event. Leader and followers: whoever takes ``_leader`` writes the whole queue;
    a caller whose events a previous leader wrote returns at once."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._leader = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Waiting] = []

    def append(self, events: list[tuple[AuditRecord, datetime]]) -> None:
        mine = _Waiting(events)
        with self._queue_lock:
            self._queue.append(mine)
        with self._leader:
            if not mine.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    self._write([event for waiting in batch for event in waiting.events])
                except BaseException as err:
                    for waiting in batch:
                        waiting.error = err
                for waiting in batch:
                    waiting.done = True
        if mine.error is not None:
            if isinstance(mine.error, ChangegateError):
                raise mine.error
            raise Unavailable("the decision could not be recorded in the audit log; try again") from mine.error


    def _write(self, events: list[tuple[AuditRecord, datetime]]) -> None:
        """One transaction appending ``events`` to the chain, on a Core connection: decisions change no
        record (the read version stays), so neither the ORM session nor the unit of work's repositories
        are needed; their set-up and commit cost about as much as the append itself (bench/README.md)."""
        lock = writer_lock(self._engine)
        if lock is not None and not lock.acquire(timeout=WRITER_WAIT_SECONDS):
            raise Unavailable(f"the database is busy: other writers held it for {WRITER_WAIT_SECONDS} s; "
                              "try again")
        try:
            with _writing(self._engine).connect() as conn, conn.begin():  # SQLite: BEGIN IMMEDIATE
                audit = AuditRepository(_CoreSession(conn))
                for record, now in events:
                    audit.append(record, now)
                audit.write_pending()
        except OperationalError as err:
            busy = _busy(err)
            if busy is None:
                raise
            raise busy from err
        finally:
            if lock is not None:
                lock.release()


class _CoreSession:
    """What ``AuditRepository``'s append asks of a session (``flush``, ``connection``), over a Core
    connection: there is nothing to flush."""

    def __init__(self, conn):
        self._conn = conn

    def flush(self) -> None:
        pass

    def connection(self):
        return self._conn


class _Waiting:
    __slots__ = ("events", "done", "error")

    def __init__(self, events):
        self.events, self.done, self.error = events, False, None


_group_commits: "weakref.WeakKeyDictionary[Engine, GroupCommit]" = weakref.WeakKeyDictionary()
_group_commits_guard = threading.Lock()


def group_commit(engine: Engine) -> GroupCommit:
    with _group_commits_guard:
        found = _group_commits.get(engine)
        if found is None:
            found = _group_commits[engine] = GroupCommit(engine)
        return found


def _conflict(err: Exception) -> Conflict:
    if isinstance(err, StaleDataError):
        return Conflict("the change was modified by someone else meanwhile; reload it and try again")
    return Conflict(f"conflicting write: {str(getattr(err, 'orig', err)).splitlines()[0]}")


def _busy(err: OperationalError) -> Unavailable | None:
    """SQLite's busy timeout ran out: another process held the write lock all along; or the connection
    to the database was lost (SQLAlchemy then renews the pool, so trying again reconnects)."""
    if getattr(err, "connection_invalidated", False):
        return Unavailable("the connection to the database was lost (a restart or a failover?); try again")
    text = str(getattr(err, "orig", err))
    if "database is locked" in text or "database is busy" in text:
        return Unavailable(f"the database is busy: another process held it for {WRITER_WAIT_SECONDS} s; try again")
    return None


__all__ = ["UnitOfWork", "utcnow", "OperationalError"]
