"""The read version's probe: one primary-key read per request, on a connection kept per thread.

Views kept per process (services/read_model.py) are valid while the read version (models.ReadVersion,
moved by every committed write, db/uow.py) is the one they were read at. Asking costs one indexed read
of a one-row table; this module makes that read as cheap as the driver allows: a DB-API connection kept
by the asking thread (outside the pool, so it never competes with units of work for a pooled one), in
autocommit (each read sees the latest committed version), the statement prepared by the driver.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine

SQL = "SELECT version FROM read_versions WHERE id = 1"


class ReadVersionProbe:
    def __init__(self, engine: Engine):
        self._engine = engine
        self._local = threading.local()
        url = engine.url
        # An in-memory SQLite database is private to its connection: another connection sees another database.
        self.usable = not (url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:")
                                                                   or url.query.get("mode") == "memory"))

    def current(self) -> int | None:
        """The committed read version now; None when it cannot be read (no row, a lost connection: the
        caller then reads afresh, where a real failure is reported as usual)."""
        if not self.usable:
            return None
        conn = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = self._local.conn = self._connect()
            row = conn.execute(SQL).fetchone()
        except Exception:  # noqa: BLE001 - any failure means "not known": the caller takes the full path
            self._drop()
            return None
        return None if row is None else row[0]

    def _connect(self):
        dialect = self._engine.dialect
        cargs, cparams = dialect.create_connect_args(self._engine.url)
        conn = dialect.connect(*cargs, **cparams)
        if dialect.name == "sqlite":
            conn.isolation_level = None  # autocommit: no transaction pins an old snapshot
        else:
            conn.autocommit = True
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
