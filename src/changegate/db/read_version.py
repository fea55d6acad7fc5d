"""The read version's probe: one primary-key read per request, on a connection kept per thread.

Views kept per process (services/read_model.py) are valid while the read version (models.ReadVersion,
moved by every committed write, db/uow.py) is the one they were read at. Asking costs one indexed read
of a one-row table; this module makes that read as cheap as the driver allows: a DB-API connection kept
by the asking thread (outside the pool, so it never competes with units of work for a pooled one), in
autocommit (each read sees the latest committed version), the statement prepared by the driver.
These connections are closed when the engine is disposed (``Runtime.close``).
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from sqlalchemy import Engine, event

SQL = "SELECT version FROM read_versions WHERE id = 1"


class ReadVersionProbe:
    def __init__(self, engine: Engine):
        # Not the engine itself: the probe is kept per engine in a weak mapping, which a reference back
        # to its key would keep alive for ever.
        self._url, self._dialect = engine.url, engine.dialect
        self._local = threading.local()
        # Per event loop (a test may run several servers, each on its own loop, in one process).
        self._shared: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SharedRead]" = weakref.WeakKeyDictionary()
        self._async_conns: dict[asyncio.AbstractEventLoop, object] = {}
        self._opened: list = []  # every connection opened, to close them with the engine
        self._opened_lock = threading.Lock()
        self._closes = 0  # how many times close_all ran: a thread's connection from before is closed
        event.listen(engine, "engine_disposed", self.close_all)
        url = engine.url
        # An in-memory SQLite database is private to its connection: another connection sees another database.
        self.usable = not (url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:")
                                                                   or url.query.get("mode") == "memory"))

    async def current_async(self) -> int | None:
        """``current`` for an event loop. SQLite: the read itself (a local file, no wait). PostgreSQL: on an
        async connection, so the loop never waits on a round trip, and shared: a request joins the next
        read to start (never one already under way, which might miss a write committed before the
        request came), so concurrent requests cost one round trip, not one each."""
        if not self.usable:
            return None
        if self._dialect.name == "sqlite":
            return self.current()
        loop = asyncio.get_running_loop()
        shared = self._shared.get(loop)
        if shared is None:
            shared = self._shared[loop] = _SharedRead(self._read_async)
        return await shared.get()

    async def _read_async(self) -> int | None:
        conn = self._async_conns.get(asyncio.get_running_loop())
        try:
            if conn is None or conn.closed:
                import psycopg

                cargs, cparams = self._dialect.create_connect_args(self._url)
                conn = await psycopg.AsyncConnection.connect(*cargs, **cparams, autocommit=True)
                self._async_conns[asyncio.get_running_loop()] = conn
                self._remember(conn, asynchronous=True)
            row = await (await conn.execute(SQL)).fetchone()
        except Exception:  # noqa: BLE001 - "not known": the caller reads afresh, where failures are reported
            self._async_conns.pop(asyncio.get_running_loop(), None)
            if conn is not None:
                try:
                    await conn.close()
                except Exception:  # noqa: BLE001 - already broken
                    pass
            return None
        return None if row is None else row[0]

    def current(self) -> int | None:
        """The committed read version now; None when it cannot be read (no row, a lost connection: the
        caller then reads afresh, where a real failure is reported as usual)."""
        if not self.usable:
            return None
        conn = getattr(self._local, "conn", None)
        try:
            if conn is None or self._local.closes != self._closes:  # none yet, or closed with the engine
                conn = self._local.conn = self._connect()
                self._local.closes = self._closes
            row = conn.execute(SQL).fetchone()
        except Exception:  # noqa: BLE001 - any failure means "not known": the caller takes the full path
            self._drop()
            return None
        return None if row is None else row[0]

    def _connect(self):
        dialect = self._dialect
        cargs, cparams = dialect.create_connect_args(self._url)
        if dialect.name == "sqlite":
            # Used by its thread only; closed by whichever thread disposes of the engine.
            conn = dialect.connect(*cargs, **{**cparams, "check_same_thread": False})
            conn.isolation_level = None  # autocommit: no transaction pins an old snapshot
        else:
            conn = dialect.connect(*cargs, **cparams)
            conn.autocommit = True
        self._remember(conn)
        return conn

    def _remember(self, conn, *, asynchronous: bool = False) -> None:
        with self._opened_lock:
            self._opened.append((conn, asynchronous))

    def close_all(self, *_engine) -> None:
        """Close every connection the probe opened (the engine was disposed). A thread or loop that asks
        again opens a new one."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
            self._closes += 1
        self._async_conns = {}
        for conn, asynchronous in opened:
            try:
                if asynchronous:
                    conn.pgconn.finish()  # its close() is a coroutine of its own loop, maybe gone
                else:
                    conn.close()
            except Exception:  # noqa: BLE001 - closing what is already broken
                pass

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass


class _SharedRead:
    """One read at a time; whoever asks while one is under way waits for the next, which then serves
    everyone who asked meanwhile."""

    def __init__(self, read):
        self._read = read
        self._next: asyncio.Future | None = None
        self._running = False

    async def get(self):
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            if not self._running:
                self._running = True
                asyncio.ensure_future(self._drive())
        return await asyncio.shield(self._next)

    async def _drive(self) -> None:
        try:
            while self._next is not None:
                waiting, self._next = self._next, None
                waiting.set_result(await self._read())  # _read answers None rather than raise
        finally:
            self._running = False
