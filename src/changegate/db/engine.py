"""Engines for SQLite (embedded default) and PostgreSQL (multi-node)."""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ..core.errors import InvalidInput

# Connections of a writing unit of work carry this option; on SQLite they open
# with BEGIN IMMEDIATE so a read-then-write never meets a stale snapshot.
WRITE_OPTION = "changegate_write"
# A unit of work that sends one read-only statement carries this option; on SQLite it sends no BEGIN
# (nor COMMIT): a lone SELECT is its own snapshot (PostgreSQL's equivalent is AUTOCOMMIT).
SINGLE_READ_OPTION = "changegate_single_read"
# How long a SQLite writer waits for its turn: in this process (the writer queue) and, after
# that, for another process's write transaction (SQLite's busy timeout).
# CHANGEGATE_SQLITE_WRITER_WAIT shortens it (tests with short run leases: a lease must outlast it, docs/runner.md).
WRITER_WAIT_SECONDS = int(os.environ.get("CHANGEGATE_SQLITE_WRITER_WAIT") or 30)
# Connections a SQLite engine keeps: one per thread of the server's thread pool (anyio's default, 40).
POOL_SIZE = 40


def make_engine(url: str, *, echo: bool = False, create_folder: bool = False) -> Engine:
    """An engine for ``url``; ``create_folder`` makes a SQLite file's folder (the embedded default's only:
    a folder missing from a URL someone wrote is a typo to report, not to create)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(f"the database URL {url!r} is not a URL (e.g. sqlite:///path/changegate.db or "
                           "postgresql+psycopg://user@host/db)", field="database_url") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            folder = Path(parsed.database).expanduser().parent
            if create_folder:
                folder.mkdir(parents=True, exist_ok=True)
            elif not folder.is_dir():
                raise InvalidInput(f"the folder {folder} of the SQLite database {parsed.database} does not exist",
                                   field="database_url")
        # Pooled connections are kept for as many threads as the server runs requests in (anyio's 40):
        # with SQLAlchemy's default (5, plus 10 closed again after use) a busy server opened and closed a
        # connection, with its four PRAGMAs, on most requests (bench/README.md, "Where the time goes").
        in_memory = parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
        pooling = {} if in_memory else {"pool_size": POOL_SIZE, "max_overflow": 10}  # in memory: one connection
        engine = create_engine(url, echo=echo, **pooling,
                               connect_args={"timeout": WRITER_WAIT_SECONDS, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):
            # We emit BEGIN ourselves (pysqlite's own handling defers it badly).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={WRITER_WAIT_SECONDS * 1000}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            options = conn.get_execution_options()
            if options.get(SINGLE_READ_OPTION, False):
                return
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_OPTION, False) else "BEGIN")

        return engine
    try:
        # No pool_pre_ping: it cost a round trip on every checkout (0.2 ms of a 0.5 ms read, bench/README.md).
        # A connection lost to a restart fails its one request, which the unit of work answers as
        # Unavailable ("try again"), and SQLAlchemy then renews the whole pool; pool_recycle replaces
        # connections before an idle timeout (a firewall, a proxy) can drop them silently.
        # Kept connections: an overflow connection is closed when returned, and opening one costs a new
        # server process; 20 + 10 keeps the old maximum of 30 per process.
        return create_engine(url, echo=echo, pool_size=20, max_overflow=10, pool_recycle=1800)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise InvalidInput(f"unknown database URL scheme {parsed.drivername!r} in "
                           f"{parsed.render_as_string(hide_password=True)} (known: sqlite, postgresql): {exc}",
                           field="database_url") from None


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


_writer_locks: "weakref.WeakKeyDictionary[Engine, threading.RLock]" = weakref.WeakKeyDictionary()
_writer_locks_guard = threading.Lock()


def writer_lock(engine: Engine) -> threading.RLock | None:
    """The in-process queue for SQLite writers, None on PostgreSQL.

    SQLite admits one writer at a time. Without a queue, the threads of a busy server all
    call BEGIN IMMEDIATE and wait in SQLite's busy handler, which sleeps and retries with
    growing pauses: throughput drops and the unlucky wait seconds. Waiting on a lock
    serves writers in turn instead; other processes (a CLI on the same file) still meet
    the busy timeout.
    """
    if not is_sqlite(engine):
        return None
    with _writer_locks_guard:
        lock = _writer_locks.get(engine)
        if lock is None:
            lock = _writer_locks[engine] = threading.RLock()
        return lock
