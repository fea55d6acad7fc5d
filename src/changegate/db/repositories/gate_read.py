"""Everything the gate reads besides the change, in ONE statement (issue 13).

The gate decides from the change view (``changes.view_statement``: token, change, collections) and these
facts: when each environment's data was refreshed, the active freezes over the deploy's slot, the other
changes holding a slot in the change's environment (with their items), the accepted conflicts, and the
newest SQL check with the scripts it covered. Each is a scalar subquery of one SELECT, each collection a
JSON array as in the view, so a decision costs two reads instead of about ten. The statement is built and
compiled once per dialect and run with ``exec_driver_sql``: its datetime parameters go through the
column type's own bind processor, so they compare exactly as stored (SQLite keeps naive UTC text).
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import NamedTuple

from sqlalchemy import and_, bindparam, func, or_, select, true

from ..models import Change, ChangeItem, ConflictAcceptance, EnvironmentFact, Evidence, EvidenceBlob, Freeze
from .changes import _json_list, convert

FREEZE_COLUMNS = ("name", "environments", "items", "starts_at", "ends_at", "emergency_override", "reason")
SLOT_STATES = ("scheduled", "implementing")  # a change in these holds its slot


class GateReads(NamedTuple):
    refreshed: dict[str, datetime | None]  # environment -> data_refreshed_at, every stored row
    freezes: list[SimpleNamespace]  # active, overlapping [start, end), by start; FREEZE_COLUMNS
    holders: list[SimpleNamespace]  # id, planned_start, estimated_downtime_minutes, items (names)
    accepted: set[int]  # ids of the changes whose conflict with this one was accepted
    blobs: dict[str, bytes | None]  # evidence kind -> content of the newest evidence of that kind

    def narrowed(self, start: datetime, end: datetime) -> "GateReads":
        """These reads for a slot [start, end) starting no earlier than the ``start`` they were read for
        (``read_gate_superset``): the freezes overlapping it, the holders starting before its end."""
        return self._replace(freezes=[f for f in self.freezes if f.starts_at < end and f.ends_at > start],
                             holders=[h for h in self.holders if h.planned_start < end])


def _aggregate(dialect: str, columns: list, where, order=None):
    """A scalar subquery: the rows as a JSON array of arrays (in ``order``, if given)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        row = func.json_build_array(*columns)
        return select(func.json_agg(aggregate_order_by(row, order) if order is not None else row)
                      ).where(where).scalar_subquery()
    inner = select(*columns).where(where)
    inner = (inner.order_by(order) if order is not None else inner).subquery()
    # json(): a JSON value read through a subquery is text again; json() embeds it as JSON, not a string.
    cols = [func.json(c) if c.name in ("environments", "items") else c for c in inner.c]
    return select(func.json_group_array(func.json_array(*cols))).scalar_subquery()


def _holders(dialect: str):
    other = Change.__table__.alias("other")
    names = ChangeItem.__table__.alias("other_items")
    items = (select(func.json_agg(names.c.name) if dialect == "postgresql" else func.json_group_array(names.c.name))
             .where(names.c.change_id == other.c.id).scalar_subquery().label("items"))
    # or_ rather than an expanding IN: the statement is compiled once and prepared.
    where = and_(or_(*(other.c.state == state for state in SLOT_STATES)), other.c.planned_start.is_not(None),
                 other.c.environment == bindparam("environment"))
    return _aggregate(dialect, [other.c.id, other.c.planned_start, other.c.estimated_downtime_minutes, items],
                      where, other.c.planned_start)


def _newest_blob(kind: str):
    return (select(EvidenceBlob.content).join(Evidence, Evidence.id == EvidenceBlob.evidence_id)
            .where(Evidence.change_id == bindparam("change_id"), Evidence.kind == kind)
            .order_by(Evidence.id.desc()).limit(1).scalar_subquery())


def gate_statement(dialect: str, blob_kinds: tuple[str, ...]):
    change_id = bindparam("change_id")
    facts = _aggregate(dialect, [EnvironmentFact.environment, EnvironmentFact.data_refreshed_at], true())
    # No upper bound on freezes and holders: the rows hold for any slot from ``start`` on (GateReads.narrowed),
    # so a process may keep them for later decisions (services/read_model.py).
    freezes = _aggregate(dialect, [getattr(Freeze, c) for c in FREEZE_COLUMNS],
                         and_(Freeze.lifted_at.is_(None), Freeze.ends_at > bindparam("start")), Freeze.starts_at)
    accepted = _aggregate(dialect, [ConflictAcceptance.change_id, ConflictAcceptance.other_change_id],
                          or_(ConflictAcceptance.change_id == change_id,
                              ConflictAcceptance.other_change_id == change_id))
    blobs = [_newest_blob(kind).label(f"blob_{i}") for i, kind in enumerate(blob_kinds)]
    return select(facts.label("facts"), freezes.label("freezes"), _holders(dialect).label("holders"),
                  accepted.label("accepted"), *blobs)


_GATE_SQL: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...] | None, dict]] = {}


def read_gate_facts(conn, change_id: int, environment: str, start: datetime, end: datetime,
                    blob_kinds: tuple[str, ...]) -> GateReads:
    """``environment``: the change's own (the slot holders it may conflict with)."""
    return read_gate_superset(conn, change_id, environment, start, blob_kinds).narrowed(start, end)


def read_gate_superset(conn, change_id: int, environment: str, start: datetime,
                       blob_kinds: tuple[str, ...]) -> GateReads:
    """What the gate reads for any slot starting at ``start`` or later (narrow it with ``GateReads.narrowed``)."""
    key = (conn.dialect.name, blob_kinds)
    if key not in _GATE_SQL:
        compiled = gate_statement(conn.dialect.name, blob_kinds).compile(dialect=conn.dialect)
        # compiled.params: the values SQLAlchemy bound itself (the states, LIMIT 1, the evidence kinds).
        _GATE_SQL[key] = (str(compiled), tuple(compiled.positiontup) if compiled.positional else None,
                          dict(compiled.params))
    sql, order, constants = _GATE_SQL[key]
    stamp = Freeze.__table__.c.starts_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) or (lambda v: v)
    params = {**constants, "change_id": change_id, "environment": environment, "start": stamp(start)}
    row = conn.exec_driver_sql(sql, tuple(params[k] for k in order) if order else params).one()
    return GateReads(
        refreshed={env: convert(EnvironmentFact, "data_refreshed_at", at) for env, at in _json_list(row[0])},
        freezes=[SimpleNamespace(**{c: convert(Freeze, c, v) for c, v in zip(FREEZE_COLUMNS, r)})
                 for r in _json_list(row[1])],
        holders=[SimpleNamespace(id=r[0], planned_start=convert(Change, "planned_start", r[1]),
                                 estimated_downtime_minutes=r[2], items=_json_list(r[3])) for r in _json_list(row[2])],
        accepted={b if a == change_id else a for a, b in _json_list(row[3])},
        blobs={kind: None if blob is None else bytes(blob) for kind, blob in zip(blob_kinds, row[4:])},
    )
