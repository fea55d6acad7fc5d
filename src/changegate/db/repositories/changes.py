"""The change record: changes with their items, approvals, comments; evidence and its content."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import NamedTuple, Protocol, Sequence

from sqlalchemy import Boolean, bindparam, exists, func, literal_column, or_, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import flag_modified

from ..models import UTCDateTime, ApiToken, Approval, Change, ChangeItem, Comment, Evidence, EvidenceBlob, ReadVersion
from ..engine import SINGLE_READ_OPTION
from .base import Repository


class ChangeView(NamedTuple):
    token: SimpleNamespace  # TOKEN_COLUMNS
    change: SimpleNamespace | None  # None: no such change
    version: int | None = None  # the read version (models.ReadVersion) in the same snapshot


def _json_list(value) -> list:
    # SQLite returns the JSON text; psycopg may hand over the parsed value (and NULL for no rows).
    if value is None:
        return []
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _utc(value: str | datetime) -> datetime:
    """A timestamp as the UTCDateTime column type gives it, aware UTC, from what the driver or a JSON
    aggregate hands over: SQLite's stored text (naive UTC), PostgreSQL's ISO 8601 with an offset, or a
    driver's datetime."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def convert(model: type, column: str, value):
    """Restore a column's Python type; the view's SQL is run without SQLAlchemy's result processing, and
    JSON has neither timestamps nor booleans."""
    if value is None:
        return None
    kind = _COLUMN_KINDS.get((model, column))
    if kind is None:
        _COLUMN_KINDS[model, column] = kind = type(model.__table__.c[column].type)
    if kind is UTCDateTime:
        return _utc(value)
    if kind is Boolean:
        return bool(value)
    return value


_COLUMN_KINDS: dict[tuple[type, str], type] = {}


class ChangeQuery(Protocol):
    """What a listing asks of the repository (services pass schemas.changes.ChangeFilter, which fits):
    db/ reads its attributes and imports no API schema."""

    state: Sequence[str]
    environment: Sequence[str]
    type: Sequence[str]
    requester: str | None
    text: str | None
    limit: int
    offset: int
    release_level: Sequence[str]
    planned_from: datetime | None
    planned_before: datetime | None


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ChangeRepository(Repository[Change]):
    model = Change

    def get(self, change_id: int, *, full: bool = True, for_update: bool = False) -> Change | None:
        """``for_update``: lock the row (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
        already serialises writers) and read its latest committed state, even if already loaded."""
        stmt = select(Change).where(Change.id == change_id)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        if full:
            stmt = stmt.options(
                selectinload(Change.items), selectinload(Change.approvals),
                selectinload(Change.evidence), selectinload(Change.comments),
            )
        return self.s.execute(stmt).scalar_one_or_none()

    def view(self, change_id: int, token_hash: str, *, read_only: bool = False) -> ChangeView | None:
        """The change view and the caller's token in one statement (see ``view_statement``); None if
        the token is unknown. The change comes back as a plain record with the model's attribute names
        (``items``, ``approvals``… as lists of records), read-only, not an ORM object.

        ``read_only``: this is the unit of work's only statement. It then runs outside a transaction,
        saving the BEGIN and COMMIT (PostgreSQL: AUTOCOMMIT; SQLite: no BEGIN is sent, see
        db/engine.py): a single statement sees one snapshot either way."""
        if read_only and not self.s.in_transaction():
            postgresql = self.s.get_bind().dialect.name == "postgresql"
            conn = self.s.connection(execution_options={"isolation_level": "AUTOCOMMIT"} if postgresql
                                     else {SINGLE_READ_OPTION: True})
        else:
            conn = self.s.connection()
        sql, order = _compiled_view(conn.dialect)
        params = {"change_id": change_id, "token_hash": token_hash}
        row = conn.exec_driver_sql(sql, tuple(params[k] for k in order) if order else params).first()
        if row is None:
            return None
        values = dict(zip(_VIEW_KEYS, row))
        token = SimpleNamespace(**{c: convert(ApiToken, c, values[f"token_{c}"]) for c in TOKEN_COLUMNS})
        if values["id"] is None:
            return ChangeView(token, None, values["read_version"])
        change = SimpleNamespace(**{c.key: convert(Change, c.key, values[c.key]) for c in Change.__table__.c})
        for name, (model, columns, _order) in VIEW_COLLECTIONS.items():
            change.__dict__[name] = [
                SimpleNamespace(**{c: convert(model, c, v) for c, v in zip(columns, json_row)})
                for json_row in _json_list(values[name])
            ]
        return ChangeView(token, change, values["read_version"])

    def gate_reads(self, change_id: int, environment: str, start: datetime, end: datetime,
                   blob_kinds: tuple[str, ...]):
        """What the gate reads besides the change, in one statement (``gate_read.py``)."""
        from .gate_read import read_gate_facts

        self.s.flush()  # a writing unit of work (change start) reads what it has written so far
        return read_gate_facts(self.s.connection(), change_id, environment, start, end, blob_kinds)

    def gate_superset(self, change_id: int, environment: str, start: datetime, blob_kinds: tuple[str, ...]):
        """``gate_reads`` for any slot from ``start`` on: what a process may keep (``GateReads.narrowed``)."""
        from .gate_read import read_gate_superset

        self.s.flush()
        return read_gate_superset(self.s.connection(), change_id, environment, start, blob_kinds)

    def touch(self, change: Change, now: datetime) -> None:
        """Mark the change written: its UPDATE checks and bumps row_version even when nothing else
        on the row changed (an approval, a comment), so concurrent writers to one change collide."""
        change.updated_at = now
        flag_modified(change, "updated_at")

    def count(self) -> int:
        return self.s.execute(select(func.count()).select_from(Change)).scalar_one()

    def add_approval(self, approval: Approval) -> None:
        self.s.add(approval)

    def add_comment(self, comment: Comment) -> None:
        self.s.add(comment)

    def set_items(self, change: Change, names: Sequence[str]) -> None:
        change.items = [ChangeItem(name=n, position=i) for i, n in enumerate(names)]

    def search(self, f: ChangeQuery) -> tuple[list[Change], int]:
        conditions = []
        if f.state:
            conditions.append(Change.state.in_(list(f.state)))
        if f.environment:
            conditions.append(Change.environment.in_(list(f.environment)))
        if f.type:
            conditions.append(Change.type.in_(list(f.type)))
        if f.requester:
            conditions.append(Change.requester == f.requester)
        if f.release_level:
            conditions.append(Change.release_level.in_(list(f.release_level)))
        if f.planned_from is not None:
            conditions.append(Change.planned_start >= f.planned_from)
        if f.planned_before is not None:
            conditions.append(Change.planned_start < f.planned_before)
        if f.text:
            pattern = f"%{_like_escape(f.text.lower())}%"
            conditions.append(
                or_(
                    func.lower(Change.title).like(pattern, escape="\\"),
                    func.lower(Change.description).like(pattern, escape="\\"),
                    exists().where(ChangeItem.change_id == Change.id,
                                   func.lower(ChangeItem.name).like(pattern, escape="\\")),
                )
            )
        total = self.s.execute(select(func.count()).select_from(Change).where(*conditions)).scalar_one()
        rows = self.s.execute(
            select(Change).where(*conditions)
            .options(selectinload(Change.items), selectinload(Change.approvals), selectinload(Change.evidence))
            .order_by(Change.id.desc()).limit(f.limit).offset(f.offset)
        ).scalars().all()
        return list(rows), total

    def scheduled_between(self, start: datetime, end: datetime, *, environment: str | None = None) -> list[Change]:
        """Changes holding a slot (scheduled or being implemented) that starts before ``end``."""
        stmt = (
            select(Change)
            .where(Change.state.in_(["scheduled", "implementing"]), Change.planned_start.is_not(None),
                   Change.planned_start < end)
            .options(selectinload(Change.items))
            .order_by(Change.planned_start)
        )
        if environment:
            stmt = stmt.where(Change.environment == environment)
        # The end of a slot is start + downtime: filter the lower bound in Python,
        # since interval arithmetic differs between SQLite and PostgreSQL.
        return [c for c in self.s.execute(stmt).scalars()
                if c.planned_start + timedelta(minutes=c.estimated_downtime_minutes or 0) > start]


class EvidenceRepository(Repository[Evidence]):
    model = Evidence

    def add(self, evidence: Evidence, content: bytes) -> Evidence:
        self.s.add(evidence)
        self.s.flush()
        self.s.add(EvidenceBlob(evidence_id=evidence.id, content=content))
        return evidence

    def get(self, change_id: int, evidence_id: int) -> Evidence | None:
        return self.s.execute(
            select(Evidence).where(Evidence.id == evidence_id, Evidence.change_id == change_id)
        ).scalar_one_or_none()

    def content(self, evidence_id: int) -> bytes:
        return self.s.execute(
            select(EvidenceBlob.content).where(EvidenceBlob.evidence_id == evidence_id)
        ).scalar_one()

    def heads(self, evidence_ids: list[int], max_bytes: int) -> dict[int, bytes]:
        """The first ``max_bytes`` of each evidence's content, in one statement (the change page's previews)."""
        if not evidence_ids:
            return {}
        rows = self.s.execute(
            select(EvidenceBlob.evidence_id, func.substr(EvidenceBlob.content, 1, max_bytes))
            .where(EvidenceBlob.evidence_id.in_(evidence_ids))
        ).all()
        return {evidence_id: bytes(head) for evidence_id, head in rows}

    def latest_of_kind(self, change_id: int, kind: str) -> Evidence | None:
        return self.s.execute(
            select(Evidence).where(Evidence.change_id == change_id, Evidence.kind == kind)
            .order_by(Evidence.id.desc()).limit(1)
        ).scalar_one_or_none()


# --- the change view in one statement -------------------------------------------------------------
#
# GET /changes/CHG-n and the gate read a change with everything it shows in ONE statement: the change
# row, each collection as a JSON array of positional rows (an ordered scalar subquery per collection),
# and, fused in, the caller's API token row. One statement means one round trip, one snapshot (no torn
# view between separate loads under READ COMMITTED), and authentication at no extra query: a revoked
# token is seen by the very next request in every process, since nothing is cached.

VIEW_COLLECTIONS: dict[str, tuple[type, tuple[str, ...], str]] = {
    # name: (model, columns in the order of each JSON row, ordering column)
    "items": (ChangeItem, ("name",), "position"),
    "approvals": (Approval, ("id", "role", "approver", "decision", "reason", "retroactive", "created_at"), "id"),
    "evidence": (Evidence, ("id", "kind", "filename", "media_type", "size", "sha256", "description",
                            "uploaded_by", "uploaded_at"), "id"),
    "comments": (Comment, ("id", "author", "body", "created_at"), "id"),
}
TOKEN_COLUMNS = ("id", "person_id", "prefix", "expires_at", "revoked_at")


def _json_rows(dialect: str, model: type, columns: tuple[str, ...], order: str, change_id: int):
    """A scalar subquery: the change's rows of ``model`` as a JSON array of arrays, in ``order``.

    Not correlated (the id is a bound parameter), so each is one index range scan."""
    cols = [getattr(model, c) for c in columns]
    where = model.change_id == change_id
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        return (select(func.json_agg(aggregate_order_by(func.json_build_array(*cols), getattr(model, order))))
                .where(where).scalar_subquery())
    # SQLite (3.40 here) has no ORDER BY inside aggregates; it aggregates an ordered subquery in order.
    inner = select(*cols).where(where).order_by(getattr(model, order)).subquery()
    return select(func.json_group_array(func.json_array(*inner.c))).scalar_subquery()


def view_statement(dialect: str, change_id=bindparam("change_id"), token_hash=bindparam("token_hash")):
    """The token row (none if the token is unknown) left-joined to the change row (NULLs if there is no
    such change), plus the change's collections."""
    token = [getattr(ApiToken, c).label(f"token_{c}") for c in TOKEN_COLUMNS]
    collections = [_json_rows(dialect, model, cols, order, change_id).label(name)
                   for name, (model, cols, order) in VIEW_COLLECTIONS.items()]
    # The read version in the same snapshot: what a view kept per process is validated against.
    version = select(ReadVersion.version).where(ReadVersion.id == literal_column("1")).scalar_subquery()
    return (select(*token, *Change.__table__.c, *collections, version.label("read_version"))
            .select_from(ApiToken).outerjoin(Change, Change.id == change_id)
            .where(ApiToken.token_hash == token_hash))


# The view's SQL is built and compiled once per dialect: building and cache-keying a statement of this
# size through SQLAlchemy costs more than running it.
_VIEW_KEYS = (*(f"token_{c}" for c in TOKEN_COLUMNS), *(c.key for c in Change.__table__.c), *VIEW_COLLECTIONS,
              "read_version")
_VIEW_SQL: dict[str, tuple[str, tuple[str, ...] | None]] = {}


def _compiled_view(dialect) -> tuple[str, tuple[str, ...] | None]:
    """The SQL text and, for positional paramstyles, the order of its parameters."""
    if dialect.name not in _VIEW_SQL:
        compiled = view_statement(dialect.name).compile(dialect=dialect)
        assert tuple(c[0] for c in compiled._result_columns) == _VIEW_KEYS  # zip(_VIEW_KEYS, row) relies on it
        order = tuple(compiled.positiontup) if compiled.positional else None
        _VIEW_SQL[dialect.name] = (str(compiled), order)
    return _VIEW_SQL[dialect.name]
