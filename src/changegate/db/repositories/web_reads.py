"""Reads for the web pages' lists: changes as plain records, without the ORM.

The dashboard and the approval queue look at up to hundreds of changes to find those waiting for the
viewer; loading each as an ORM object with its collections cost most of the page's time. These reads
return records with the model's attribute names (``items``, ``approvals``, ``evidence`` as lists of
records), as ``ChangeRepository.view`` does, so ``services.views.facts_of`` and the summaries read
them unchanged. Read-only: nothing here is attached to the session.
"""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Sequence

from sqlalchemy import JSON, bindparam, literal_column, select
from sqlalchemy.orm import Session

from ..engine import SINGLE_READ_OPTION
from ..models import (Approval, AuditEvent, AuditHead, Change, ChangeItem, Comment, DeploymentRun, Evidence,
                      ReadVersion, WebSessionRecord)
from .changes import convert

_CHANGE_COLUMNS = tuple(Change.__table__.c)
_APPROVAL_COLUMNS = ("id", "role", "approver", "decision", "reason", "retroactive", "created_at")


_EVIDENCE_COLUMNS = ("id", "kind", "filename", "media_type", "size", "sha256", "description", "uploaded_by",
                     "uploaded_at")
_COMMENT_COLUMNS = ("id", "author", "body", "created_at")


def _rows(model, columns: tuple[str, ...]):
    return select(model.change_id, *(getattr(model, c) for c in columns))


_VERSIONS_SQL: dict[tuple, object] = {}  # (dialect, states, types, by requester, limit) -> the compiled statement
_SESSION_COLUMNS = ("person_id", "expires_at", "ended_at")
_SESSION_SQL: dict[str, tuple[str, bool]] = {}
_HEAD_SQL = ("SELECT audit_head.last_seq, read_versions.version FROM audit_head, read_versions"
             " WHERE audit_head.id = 1 AND read_versions.id = 1")


def _version():
    """The read version (models.ReadVersion) as a scalar subquery: every committed write moves it, also those
    that append no audit event (a run's lease renewal, a change edited by a use case without an event)."""
    return select(ReadVersion.version).where(ReadVersion.id == literal_column("1")).scalar_subquery()


def _session_sql(dialect) -> tuple[str, bool]:
    """The audit chain's head, the read version and the session row with that secret, if any: one statement,
    compiled once per dialect (building and cache-keying it through SQLAlchemy cost more than running it)."""
    if dialect.name not in _SESSION_SQL:
        stmt = (select(AuditHead.last_seq, _version(), *(getattr(WebSessionRecord, c) for c in _SESSION_COLUMNS))
                .select_from(AuditHead)
                .outerjoin(WebSessionRecord, WebSessionRecord.secret_hash == bindparam("secret_hash"))
                .where(AuditHead.id == literal_column("1")))
        compiled = stmt.compile(dialect=dialect)
        _SESSION_SQL[dialect.name] = (str(compiled), compiled.positional)
    return _SESSION_SQL[dialect.name]


_ONCE: dict[tuple[str, str], tuple[str, tuple[str, ...] | None]] = {}
_EVENT_COLUMNS = ("seq", "at", "actor", "action", "entity", "before", "after", "detail", "hash")
_RUN_COLUMNS = tuple(c.name for c in DeploymentRun.__table__.c)
_STATEMENTS = {  # what a fresh change page reads by name, compiled once per dialect (_run)
    "change_version": lambda: select(Change.id, Change.row_version).where(Change.id == bindparam("change_id")),
    "events_from": lambda: (select(*(getattr(AuditEvent, c) for c in _EVENT_COLUMNS))
                            .where(AuditEvent.entity == bindparam("entity"), AuditEvent.seq >= bindparam("first_seq"))
                            .order_by(AuditEvent.seq)),
    "runs_for": lambda: (select(*DeploymentRun.__table__.c).where(DeploymentRun.change_id == bindparam("change_id"))
                         .order_by(DeploymentRun.id)),
}


def _run(conn, name: str, **params):
    """Run one of _STATEMENTS on the driver: building, cache-keying and compiling a select through SQLAlchemy
    cost more than running it (a fresh change page makes several)."""
    key = (conn.dialect.name, name)
    if key not in _ONCE:
        compiled = _STATEMENTS[name]().compile(dialect=conn.dialect)
        _ONCE[key] = (str(compiled), tuple(compiled.positiontup) if compiled.positional else None)
    sql, order = _ONCE[key]
    return conn.exec_driver_sql(sql, tuple(params[k] for k in order) if order is not None else params)


def _restored(model, column: str, value):
    """A column's Python value from the driver's (``convert``, and JSON text decoded, as SQLite returns it)."""
    if isinstance(value, str) and isinstance(model.__table__.c[column].type, JSON):
        return json.loads(value)
    return convert(model, column, value)


_BY_IDS: dict[tuple[str, str, int], tuple[str, tuple[str, ...] | None]] = {}
_CHILDREN = {  # name -> (model, columns read, the full columns); evidence: its ids only unless full
    "items": (ChangeItem, ("name",), ("name",)),
    "approvals": (Approval, _APPROVAL_COLUMNS, _APPROVAL_COLUMNS),
    "evidence": (Evidence, ("id",), _EVIDENCE_COLUMNS),
    "comments": (Comment, _COMMENT_COLUMNS, _COMMENT_COLUMNS),
}


def _by_ids_statement(name: str):
    ids = bindparam("ids", expanding=True)
    if name == "changes":
        return select(*_CHANGE_COLUMNS).where(Change.id.in_(ids)).order_by(Change.id.desc())
    model, columns = _CHILDREN[name.split(":")[0]][0], name.split(":")[1].split(",")
    order = model.position if model is ChangeItem else model.id
    return (select(model.change_id, *(getattr(model, c) for c in columns)).where(model.change_id.in_(ids))
            .order_by(model.change_id, order))


def _run_by_ids(conn, name: str, model, columns: tuple[str, ...], ids: list[int]) -> list[dict]:
    """``name``'s rows for the changes ``ids`` as dicts of Python values. The SQL is compiled once per dialect,
    statement and number of ids (up to 64; more are compiled each time), and run on the driver."""
    key = (conn.dialect.name, name, len(ids))
    found = _BY_IDS.get(key)
    if found is None:
        compiled = _by_ids_statement(name).params(ids=list(ids)).compile(
            dialect=conn.dialect, compile_kwargs={"render_postcompile": True})  # IN (ids_1, ids_2, …)
        found = (str(compiled), tuple(compiled.positiontup) if compiled.positional else None)
        if len(ids) <= 64:
            _BY_IDS[key] = found
    sql, order = found
    params = {f"ids_{i}": v for i, v in enumerate(ids, 1)}
    rows = conn.exec_driver_sql(sql, tuple(params[k] for k in order) if order is not None else params)
    return [{c: _restored(model, c, v) for c, v in zip(columns, row)} for row in rows]


class WebReads:
    def __init__(self, session: Session):
        self.s = session

    def session_and_head(self, secret_hash: str) -> tuple[tuple[int, int], SimpleNamespace | None]:
        """What every page reads first: the audit chain's head and the read version (together the key of the
        views kept, services/web_cache.py) and the web session with this secret's hash (None if unknown), in one statement. When it is the unit of
        work's first statement it runs outside a transaction (a lone SELECT is its own snapshot), as the API's
        change view does."""
        if not self.s.in_transaction():
            postgresql = self.s.get_bind().dialect.name == "postgresql"
            conn = self.s.connection(execution_options={"isolation_level": "AUTOCOMMIT"} if postgresql
                                     else {SINGLE_READ_OPTION: True})
        else:
            conn = self.s.connection()
        sql, positional = _session_sql(conn.dialect)
        seq, version, *values = conn.exec_driver_sql(
            sql, (secret_hash,) if positional else {"secret_hash": secret_hash}).one()
        head = (seq, version)
        if values[0] is None:
            return head, None
        return head, SimpleNamespace(**{c: convert(WebSessionRecord, c, v) for c, v in zip(_SESSION_COLUMNS, values)})

    def change_records(self, *, states: Sequence[str] = (), types: Sequence[str] = (),
                       requester: str | None = None, ids: Sequence[int] | None = None, limit: int = 50,
                       full: bool = False, comments: bool = True) -> list[SimpleNamespace]:
        """The newest ``limit`` changes matching every filter given, as plain records (newest first), in a
        few statements whatever their number: the rows, their items, approvals and evidence ids; with
        ``full``, the evidence rows and (unless ``comments`` is false: the approval queue shows none, and a
        change may hold hundreds) the comments too (what ``views.change_out`` shows)."""
        if ids is not None and not (states or types or requester):
            return self._records_by_ids(list(ids), limit, full, comments)
        stmt = select(*_CHANGE_COLUMNS)
        if states:
            stmt = stmt.where(Change.state.in_(list(states)))
        if types:
            stmt = stmt.where(Change.type.in_(list(types)))
        if requester:
            stmt = stmt.where(Change.requester == requester)
        if ids is not None:
            stmt = stmt.where(Change.id.in_(list(ids)))
        rows = self.s.execute(stmt.order_by(Change.id.desc()).limit(limit)).all()
        records = {row.id: SimpleNamespace(**row._asdict(), items=[], approvals=[], evidence=[], comments=[])
                   for row in rows}
        if records:
            self._children(records, full=full, comments=comments)
        return list(records.values())

    def _records_by_ids(self, ids: list[int], limit: int, full: bool, comments: bool) -> list[SimpleNamespace]:
        """``change_records(ids=…)``: the same records through statements compiled once (a fresh page re-reads
        the few changes written since it kept theirs: building each select through SQLAlchemy cost more)."""
        if not ids:
            return []
        conn = self.s.connection()
        names = tuple(c.name for c in _CHANGE_COLUMNS)
        rows = _run_by_ids(conn, "changes", Change, names, ids)[:limit]
        records = {row["id"]: SimpleNamespace(**row, items=[], approvals=[], evidence=[], comments=[]) for row in rows}
        if not records:
            return []
        kept = list(records)
        for child, (model, brief, whole) in _CHILDREN.items():
            if child == "comments" and not (full and comments):
                continue
            columns = whole if full else brief
            for row in _run_by_ids(conn, f"{child}:{','.join(columns)}", model, ("change_id", *columns), kept):
                getattr(records[row.pop("change_id")], child).append(SimpleNamespace(**row))
        return list(records.values())

    def head(self) -> tuple[int, int]:
        """The audit chain's head (its last seq) and the read version: the key of the views kept. Plain SQL, the
        same on both engines. The head moves with every audited write (a new draft leaves the read version,
        db/uow.py: leaves_kept_views_valid), the version with every other one (a lease renewal audits nothing)."""
        return tuple(self.s.connection().exec_driver_sql(_HEAD_SQL).one())

    def change_versions(self, *, states: Sequence[str] = (), types: Sequence[str] = (), requester: str | None = None,
                        limit: int = 50) -> list[tuple[int, int]]:
        """(id, row_version) of the newest ``limit`` changes matching the filters, newest first: what tells a
        kept record (services/web_cache.py: RecordCache) from a changed one. Every write to a change or its
        approvals, evidence and comments bumps its row_version. The SQL is compiled once per dialect and
        filter shape (the states, types and limit come from the code; the requester is a parameter) and run on
        the driver: hundreds of rows are read per dashboard, so SQLAlchemy's per-row work showed."""
        conn = self.s.connection()
        key = (conn.dialect.name, tuple(states), tuple(types), requester is not None, limit)
        if key not in _VERSIONS_SQL:
            stmt = select(Change.id, Change.row_version)
            if states:
                stmt = stmt.where(Change.state.in_(list(states)))
            if types:
                stmt = stmt.where(Change.type.in_(list(types)))
            if requester is not None:
                stmt = stmt.where(Change.requester == bindparam("requester"))
            stmt = stmt.order_by(Change.id.desc()).limit(limit)
            # render_postcompile: the IN lists become plain parameters, so the SQL text is final
            _VERSIONS_SQL[key] = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        compiled = _VERSIONS_SQL[key]
        params = compiled.construct_params({"requester": requester} if requester is not None else None)
        rows = conn.exec_driver_sql(str(compiled), tuple(params[k] for k in compiled.positiontup)
                                    if compiled.positional else params)
        return [tuple(row) for row in rows]

    def holding_slots(self, start, end) -> list[SimpleNamespace]:
        """The changes holding a slot (scheduled or being implemented) that overlaps ``start``–``end``, by start:
        what ``ChangeRepository.scheduled_between`` selects, as plain records without their items (the
        dashboard lists them)."""
        stmt = (select(Change.id, Change.title, Change.type, Change.environment, Change.state, Change.planned_start,
                       Change.estimated_downtime_minutes)
                .where(Change.state.in_(["scheduled", "implementing"]), Change.planned_start.is_not(None),
                       Change.planned_start < end)
                .order_by(Change.planned_start))
        return [r for r in (SimpleNamespace(**row._asdict()) for row in self.s.execute(stmt))
                if r.planned_start + timedelta(minutes=r.estimated_downtime_minutes or 0) > start]

    def change_version(self, change_id: int) -> tuple[int, int] | None:
        """(id, row_version) of one change, or None: whether a kept record is still the change."""
        row = _run(self.s.connection(), "change_version", change_id=change_id).first()
        return tuple(row) if row is not None else None

    def events_from(self, entity: str, first_seq: int) -> list[SimpleNamespace]:
        """The audit events of ``entity`` from ``first_seq`` on, oldest first, as plain records (the events are
        never changed once written: a page keeps those it read and asks only for the newer ones)."""
        rows = _run(self.s.connection(), "events_from", entity=entity, first_seq=first_seq)
        return [SimpleNamespace(**{c: _restored(AuditEvent, c, v) for c, v in zip(_EVENT_COLUMNS, row)})
                for row in rows]

    def runs_for(self, change_id: int) -> list[SimpleNamespace]:
        """A change's deployment runs, oldest first, as plain records (``RunRepository.for_change`` without the
        ORM: the change page lists them, reading nothing else of a run)."""
        return [SimpleNamespace(**{c: _restored(DeploymentRun, c, v) for c, v in zip(_RUN_COLUMNS, row)})
                for row in _run(self.s.connection(), "runs_for", change_id=change_id)]

    def change_record(self, change_id: int) -> SimpleNamespace | None:
        """One change with every collection the change page shows, as a plain record: five short Core
        statements instead of the ORM's load and its four collection loads."""
        found = self.change_records(ids=[change_id], limit=1, full=True)
        return found[0] if found else None

    def _children(self, records: dict[int, SimpleNamespace], *, full: bool, comments: bool = True) -> None:
        ids = list(records)
        for change_id, name in self.s.execute(
                select(ChangeItem.change_id, ChangeItem.name).where(ChangeItem.change_id.in_(ids))
                .order_by(ChangeItem.change_id, ChangeItem.position)):
            records[change_id].items.append(SimpleNamespace(name=name))
        # Evidence in full for the page; otherwise its ids only (facts count them; summaries skip them).
        for name, model, columns in (("approvals", Approval, _APPROVAL_COLUMNS),
                                     ("evidence", Evidence, _EVIDENCE_COLUMNS if full else ("id",)),
                                     *((("comments", Comment, _COMMENT_COLUMNS),) if full and comments else ())):
            for row in self.s.execute(_rows(model, columns).where(model.change_id.in_(ids)).order_by(model.id)):
                getattr(records[row.change_id], name).append(SimpleNamespace(**{c: getattr(row, c) for c in columns}))
