"""Scratch databases for the SQL check, and how a script runs in one.

SQLite: a database file in a temporary directory. PostgreSQL: a temporary database on a throwaway
cluster (or the server of CHANGEGATE_SCRATCH_POSTGRES_URL), owned by a temporary unprivileged login
role that every script runs as, so that what the static scan cannot see (SQL built at run time) still
cannot read server files, run programs or reach other databases.

Every script runs on a fresh connection (no session state leaks from one script into the next), one
statement at a time (so a failure names its statement, line and column), wrapped as
``Script.execution`` says: ``transaction`` (BEGIN … COMMIT around all of it: atomic),
``own_transactions`` or ``statement_by_statement`` (autocommit; the script's own BEGIN/COMMIT apply),
``verify`` (BEGIN … always ROLLBACK; the script's own transaction statements are skipped).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from ..core.errors import InvalidInput
from ..core.sql.lint import schema_action
from ..core.sql.refusals import needs_autocommit, transaction_control
from ..core.sql.script import Script, Statement
from .fingerprint import Fingerprint, pg_fingerprint, sqlite_fingerprint


class ScratchUnavailable(RuntimeError):
    """No scratch database could be made (no PostgreSQL binaries, server unreachable, no privilege)."""


@dataclass
class RunOutcome:
    script: str
    role: str
    run: int
    execution: str
    atomic: bool
    ok: bool
    statements: int
    applied: int
    seconds: float
    error: str | None = None  # "statement 3 (line 9, column 1) failed: …"

    def to_dict(self) -> dict:
        return {"script": self.script, "role": self.role, "run": self.run, "execution": self.execution,
                "atomic": self.atomic, "ok": self.ok, "statements": self.statements, "applied": self.applied,
                "seconds": round(self.seconds, 4), "error": self.error}


class _Failed(Exception):
    def __init__(self, stmt: Statement | None, message: str, position: int | None = None):
        super().__init__(message)
        self.stmt, self.message, self.position = stmt, message, position


def _where(script: Script, failure: _Failed) -> str:
    s = failure.stmt
    if s is None:
        return failure.message
    line, col = s.line, s.column
    if failure.position:
        line, col = script.position(s.tokens[0].start + failure.position - 1)
    return f"statement {s.index} (line {line}, column {col}) failed: {failure.message}"


class _Watchdog:
    """Interrupts a statement that runs longer than the timeout."""

    def __init__(self, timeout: float, interrupt: Callable[[], None]):
        self.fired = False

        def fire() -> None:
            self.fired = True
            interrupt()

        self._timer = threading.Timer(timeout, fire)
        self._timer.daemon = True

    def __enter__(self) -> "_Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class _Scratch:
    engine = ""
    timeout = 600.0

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.schema_skipped = 0

    # engine hooks
    def _connect(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _exec(self, conn, stmt: Statement) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _in_transaction(self, conn) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def _interrupt(self, conn) -> Callable[[], None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, script: Script, run: int = 1) -> RunOutcome:
        started = time.perf_counter()
        applied = 0
        error = None
        try:
            conn = self._connect()
        except _Failed as failure:
            return RunOutcome(script.name, script.role, run, script.execution, script.atomic, False,
                              len(script.statements), 0, time.perf_counter() - started, failure.message)
        watchdog = _Watchdog(self.timeout, self._interrupt(conn))
        try:
            with watchdog:
                applied = self._run(conn, script, script.execution)
        except _Failed as failure:
            if watchdog.fired:
                failure.message = f"timed out after {self.timeout:g} s"
            error = _where(script, failure)
            applied = failure.stmt.index - 1 if failure.stmt else 0
        finally:
            self._close(conn)
        return RunOutcome(script.name, script.role, run, script.execution, script.atomic, error is None,
                          len(script.statements), applied, time.perf_counter() - started, error)

    def _run(self, conn, script: Script, mode: str) -> int:
        stmts = script.statements
        wrap = mode in ("transaction", "verify")
        current = None
        try:
            if wrap:
                self._raw(conn, "BEGIN")
            done = 0
            for s in stmts:
                current = s
                if mode == "verify" and transaction_control(s, self.engine):
                    continue
                self._exec(conn, s)
                done += 1
            current = None
            if mode == "transaction":
                self._raw(conn, "COMMIT")
            return len(stmts) if mode != "verify" else done
        except _Failed as failure:
            failure.stmt = current
            raise
        finally:
            try:
                if self._in_transaction(conn):
                    self._raw(conn, "ROLLBACK")  # verify always; a failed or unfinished script's open transaction
            except _Failed:
                pass  # the connection is gone; it is closed next

    def _raw(self, conn, sql: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close(self, conn) -> None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


# --- SQLite -------------------------------------------------------------------------------------

_SQLITE_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}


def _sqlite_authorizer(action: int, arg1, arg2, _db, _source) -> int:
    """Second line of defence behind the static scan: nothing that reaches another file."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _sqlite_vacuum_authorizer(action: int, arg1, arg2, db, source) -> int:
    """While a VACUUM runs: SQLite attaches its private temporary database (empty file name) to rebuild
    the file into; that ATTACH, and no other, is allowed. VACUUM INTO, which names a file, is refused."""
    if action == sqlite3.SQLITE_ATTACH and arg1 == "":
        return sqlite3.SQLITE_OK
    return _sqlite_authorizer(action, arg1, arg2, db, source)


class SqliteScratch(_Scratch):
    engine = "sqlite"

    def __init__(self, timeout: float = 600.0):
        super().__init__()
        self.timeout = timeout
        self.dir = tempfile.mkdtemp(prefix="changegate-sqlcheck-")
        self.path = os.path.join(self.dir, "scratch.db")
        self._fp_last: tuple[tuple, Fingerprint] | None = None  # (file state, fingerprint) of the last one
        self._fp_memo: dict = {}  # normalised CREATE texts (see sqlite_fingerprint)
        self.fingerprints_reused = 0

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=5, check_same_thread=False)
            conn.set_authorizer(_sqlite_authorizer)
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise _Failed(None, f"could not open the scratch database: {exc}") from None
        return conn

    def _exec(self, conn, stmt: Statement) -> None:
        vacuum = stmt.words[:1] == ["vacuum"]
        if vacuum:
            conn.set_authorizer(_sqlite_vacuum_authorizer)
        try:
            conn.execute(stmt.text).fetchall()
        except sqlite3.Error as exc:
            raise _Failed(stmt, str(exc)) from None
        finally:
            if vacuum:
                conn.set_authorizer(_sqlite_authorizer)

    def _raw(self, conn, sql: str) -> None:
        try:
            conn.execute(sql)
        except sqlite3.Error as exc:
            raise _Failed(None, f"{sql} failed: {exc}") from None

    def _in_transaction(self, conn) -> bool:
        return conn.in_transaction

    def _interrupt(self, conn) -> Callable[[], None]:
        return conn.interrupt

    def load_schema(self, script: Script) -> None:
        outcome = self.run(script)
        if not outcome.ok:
            raise InvalidInput(f"{script.name} could not be loaded into the scratch database: {outcome.error}",
                               field="schema")

    def fingerprint(self) -> Fingerprint:
        """The database's fingerprint; the previous one again when the file provably did not change since.

        In SQLite's rollback-journal modes (the default), every transaction that writes the database file
        increments the file change counter in its header, and SQLite's own connections rely on it to know
        when their page cache is stale; so a header, size and inode identical to those seen when the last
        fingerprint was taken mean that nothing was committed since (a run that wrote nothing, or rolled
        back). In WAL mode the header is not kept up to date: every fingerprint is taken in full."""
        state = self._file_state()
        if state is not None and self._fp_last is not None and self._fp_last[0] == state:
            self.fingerprints_reused += 1
            return self._fp_last[1]
        try:
            conn = self._connect()
        except _Failed as failure:
            raise ScratchUnavailable(failure.message) from None
        try:
            fp = sqlite_fingerprint(conn, self._fp_memo)
        finally:
            conn.close()
        self._fp_last = (state, fp) if state is not None else None
        return fp

    def _file_state(self) -> tuple | None:
        """What identifies the file's committed contents in a rollback-journal mode, or None (WAL mode,
        a journal or WAL file present, unreadable)."""
        if any(os.path.exists(self.path + suffix) for suffix in ("-wal", "-journal")):
            return None
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                header = f.read(100)
        except OSError:
            return None
        if len(header) < 100 or header[18:20] != b"\x01\x01":  # read/write versions 1: legacy, not WAL
            return None
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, header

    def recreate(self) -> None:
        self._fp_last = None  # a new file may reuse the inode, the size and the change counter
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(self.path + suffix)
            except FileNotFoundError:
                pass

    def add_roles(self, roles: set[str]) -> None:
        """SQLite has no roles."""

    def settings(self) -> dict[str, str]:
        """What the scripts run with: SQLite's version and the connection's settings."""
        conn = self._connect()
        try:
            version = conn.execute("SELECT sqlite_version()").fetchone()[0]
            fk = conn.execute("PRAGMA foreign_keys").fetchone()[0]
            journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            conn.close()
        return {"version": f"SQLite {version}", "foreign_keys": "on" if fk else "off", "journal_mode": journal}

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# --- PostgreSQL ---------------------------------------------------------------------------------

def normalise_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs (postgresql+psycopg://…) as libpq URLs."""
    return re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", url)


class PgScratch(_Scratch):
    """A temporary database (and role) on a PostgreSQL server; ``admin`` is a libpq conninfo or URL."""

    engine = "postgresql"

    def __init__(self, admin: str, *, timeout: float = 600.0, sandbox: bool = True, roles: set[str] = frozenset()):
        super().__init__()
        import psycopg

        self.psycopg = psycopg
        self.timeout = timeout
        self.admin = normalise_url(admin)
        self.name = f"cg_sqlcheck_{uuid.uuid4().hex[:12]}"
        self.role: str | None = None
        self.password = secrets.token_urlsafe(24)
        self.created_roles: list[str] = []
        self._fp_conn = None
        self._admin_conn = None  # the server user's connection while a schema loads
        try:
            self._admin = psycopg.connect(self.admin, autocommit=True)
        except psycopg.Error as exc:
            raise ScratchUnavailable(f"cannot connect to the scratch PostgreSQL server: {exc}".strip()) from None
        try:
            self.superuser = self._admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                                                 ).fetchone()[0]
            if sandbox:
                self._make_role()
            self.add_roles(roles)
            self._create_database()
        except BaseException:
            self.close()
            raise

    def _q(self, name: str):
        return self.psycopg.sql.Identifier(name)

    def _make_role(self) -> None:
        sql = self.psycopg.sql
        try:
            self._admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                        "NOREPLICATION NOBYPASSRLS").format(self._q(self.name),
                                                                           sql.Literal(self.password)))
            self.role = self.name
            if not self.superuser:
                self._admin.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(self._q(self.role)))
        except self.psycopg.Error as exc:
            self.notes.append("scripts ran as the server's user, not as an unprivileged role "
                              f"(creating one failed: {getattr(exc.diag, 'message_primary', None) or exc})")

    def add_roles(self, roles: set[str]) -> None:
        """Roles named by GRANT … TO / OWNER TO that the scratch server lacks are created (NOLOGIN) and
        granted to the check's role (so that OWNER TO works); they are dropped with it."""
        if not roles or not self.role:
            return
        have = {r for (r,) in self._admin.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                                                  (sorted(roles),))}
        sql = self.psycopg.sql
        for r in sorted(roles - have):
            try:
                self._admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(self._q(r)))
                self.created_roles.append(r)
                self._admin.execute(sql.SQL("GRANT {} TO {}").format(self._q(r), self._q(self.role)))
            except self.psycopg.Error as exc:
                self.notes.append(f"role {r} is missing on the scratch server and could not be created: "
                                  f"{getattr(exc.diag, 'message_primary', None) or exc}")
        if self.created_roles:
            self.notes[:] = [n for n in self.notes if not n.startswith("placeholder roles")]
            self.notes.append("placeholder roles created for the check: " + ", ".join(self.created_roles))

    def _create_database(self) -> None:
        sql = self.psycopg.sql
        owner = sql.SQL(" OWNER {}").format(self._q(self.role)) if self.role else sql.SQL("")
        try:
            self._admin.execute(sql.SQL("CREATE DATABASE {}{} TEMPLATE template0").format(self._q(self.name), owner))
        except self.psycopg.Error as exc:
            raise ScratchUnavailable(f"cannot create a scratch database: {exc}".strip()) from None

    def conninfo(self, admin: bool = False) -> str:
        from psycopg.conninfo import make_conninfo

        if admin or not self.role:
            return make_conninfo(self.admin, dbname=self.name)
        return make_conninfo(self.admin, dbname=self.name, user=self.role, password=self.password)

    def _connect(self):
        try:
            return self.psycopg.connect(self.conninfo(), autocommit=True, prepare_threshold=None,
                                        application_name="changegate-sqlcheck")
        except self.psycopg.Error as exc:
            raise _Failed(None, f"could not connect to the scratch database: {str(exc).strip()}") from None

    def _exec(self, conn, stmt: Statement) -> None:
        try:
            with conn.cursor() as cur:
                if stmt.copy_data is not None:
                    with cur.copy(stmt.text) as copy:
                        copy.write(stmt.copy_data)
                elif stmt.words[:1] == ["copy"] and any(t.is_word("stdout") for t in stmt.tokens):
                    with cur.copy(stmt.text) as copy:
                        for _ in copy:
                            pass
                else:
                    cur.execute(stmt.text)  # one statement, no parameters: sent as written
        except self.psycopg.Error as exc:
            diag = exc.diag
            message = diag.message_primary or str(exc).strip()
            if diag.context and "PL/pgSQL" in diag.context:
                message += f" ({diag.context.splitlines()[0]})"
            position = int(diag.statement_position) if diag.statement_position else None
            raise _Failed(stmt, message, position) from None

    def _raw(self, conn, sql: str) -> None:
        try:
            conn.execute(sql)
        except self.psycopg.Error as exc:
            raise _Failed(None, f"{sql} failed: {exc.diag.message_primary or str(exc).strip()}") from None

    def _in_transaction(self, conn) -> bool:
        from psycopg.pq import TransactionStatus

        return not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE

    def _interrupt(self, conn) -> Callable[[], None]:
        return getattr(conn, "cancel_safe", conn.cancel)

    def load_schema(self, script: Script) -> None:
        """Statement by statement, in transactions as large as possible: privileges and ownership are skipped,
        extensions and event triggers are created by the server's user (an unprivileged role may not create
        every extension)."""
        try:
            conn = self._connect()
        except _Failed as failure:
            raise ScratchUnavailable(failure.message) from None
        self._admin_conn = None
        self.schema_skipped = 0
        own = script.execution == "own_transactions"
        try:
            for s in script.statements:
                self._load_statement(conn, script, s, own)
            if self._in_transaction(conn) and not own:
                self._load_step(script, None, lambda: self._raw(conn, "COMMIT"))
        finally:
            conn.close()
            if self._admin_conn is not None:
                self._admin_conn.close()
        if self.schema_skipped and not any(n.startswith(f"{script.name}: ") for n in self.notes):
            self.notes.append(f"{script.name}: {self.schema_skipped} ownership and privilege statements skipped "
                              "(ownership and privileges are not compared)")

    def _load_statement(self, conn, script: Script, s: Statement, own: bool) -> None:
        action = schema_action(s)
        if action == "skip":
            self.schema_skipped += 1
        elif action == "admin":
            self._load_step(script, s, lambda: self._as_admin(conn, s, own))
        else:
            self._load_step(script, s, lambda: self._batched(conn, s, own))

    def _as_admin(self, conn, s: Statement, own: bool) -> None:
        """On another connection, as the server's user: what came before must be committed."""
        if self._in_transaction(conn) and not own:
            self._raw(conn, "COMMIT")
        self._admin_conn = self._admin_conn or self.psycopg.connect(self.conninfo(admin=True), autocommit=True)
        self._exec(self._admin_conn, s)

    def _batched(self, conn, s: Statement, own: bool) -> None:
        """Batches of statements in one transaction (fewer commits), unless the statement cannot run in one."""
        autocommit = needs_autocommit(s, self.engine)
        if not own and not self._in_transaction(conn) and not autocommit:
            self._raw(conn, "BEGIN")
        elif not own and self._in_transaction(conn) and autocommit:
            self._raw(conn, "COMMIT")
        self._exec(conn, s)

    def _load_step(self, script: Script, s: Statement | None, step) -> None:
        try:
            step()
        except _Failed as failure:
            failure.stmt = failure.stmt or s
            raise InvalidInput(f"{script.name} could not be loaded into the scratch database: "
                               f"{_where(script, failure)}", field="schema") from None

    def _fp_connection(self):
        if self._fp_conn is None or self._fp_conn.closed:
            as_admin = self.superuser or not self.role
            self._fp_conn = self.psycopg.connect(self.conninfo(admin=as_admin), autocommit=True,
                                                 application_name="changegate-sqlcheck")
        return self._fp_conn

    def fingerprint(self) -> Fingerprint:
        return pg_fingerprint(self._fp_connection())

    # Settings that change what a script does or how long it may wait: stated in the report.
    SETTINGS = ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout", "search_path",
                "TimeZone", "default_transaction_isolation", "standard_conforming_strings", "client_encoding",
                "check_function_bodies")

    def settings(self) -> dict[str, str]:
        """The server's version and the settings the scripts start with (the check's role and database
        set none of their own)."""
        rows = self._fp_connection().execute(
            "SELECT s, current_setting(s) FROM unnest(%s::text[]) AS s", (["server_version", *self.SETTINGS],))
        found = dict(rows.fetchall())
        return {"version": f"PostgreSQL {found.pop('server_version')}", **found}

    def _drop_database(self) -> None:
        if self._fp_conn is not None:
            self._fp_conn.close()
            self._fp_conn = None
        self._admin.execute(self.psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(self._q(self.name)))

    def recreate(self) -> None:
        self._drop_database()
        self._create_database()

    def close(self) -> None:
        if getattr(self, "_admin", None) is None or self._admin.closed:
            return
        sql = self.psycopg.sql
        try:
            self._drop_database()
            for r in [self.role, *self.created_roles]:
                if r:
                    self._admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(self._q(r)))
        finally:
            self._admin.close()
