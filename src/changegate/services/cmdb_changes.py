"""A change's impact from the CMDB, and its curation: the requester confirms or excludes impacted items.

The computed impact is computed afresh from the CMDB each time it is read; the curation (the newest
decision per item, every decision audited on the change) is stored, so the approvers see both: each
impacted item carries its curation, and the decisions are listed with whether their item is still in
the computed impact.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..core.audit import AuditRecord
from ..core.changes.entities import TERMINAL_STATES, Risk, format_ref
from ..core.cmdb.policy import RISK_ORDER
from ..core.errors import InvalidInput, Refused
from ..core.policy.model import Permission
from ..db.models import Change, CmdbCuration
from ..db.uow import UnitOfWork
from ..schemas.cmdb import CurationIn, CurationOut, ImpactOut, ImpactQuery, ImpactSummaryOut, RiskOut
from .context import Context
from .lookup import load
from .views import facts_of


def change_impact(uow: UnitOfWork, ctx: Context, ref: str, types: list[str], depth: int | None,
                  limit: int) -> ImpactOut:
    """The impact of a change's items; items the CMDB does not hold are listed as unknown, not refused."""
    change = load(uow, ref)
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    return _impact(uow, ctx, change, types, depth, limit)


def _impact(uow: UnitOfWork, ctx: Context, change: Change, types: list[str], depth: int | None,
            limit: int) -> ImpactOut:
    names = list(dict.fromkeys(i.name for i in change.items))
    uow.cmdb.snapshot()  # the ids, the index, the names and the curations: one state of the CMDB
    known = uow.cmdb.ids_by_names(names)
    touched = [n for n in names if n in known]
    unknown = [n for n in names if n not in known]
    curations = uow.cmdb.curations(change.id)
    if not touched:
        return ImpactOut(touched=[], unknown=unknown, impacted=[], total=0, truncated=False, services=[],
                         production_lines=[], highest_criticality=None, types=types, depth=depth,
                         curations=[_curation_out(c, False) for c in curations], curated_total=0)
    from .cmdb import impact_with_reach  # numpy and the graph index: not for a change read without a CMDB

    out, index, reach = impact_with_reach(uow, ctx.policy, ImpactQuery(items=touched, types=types, depth=depth,
                                                                       limit=limit))
    ids = uow.cmdb.ids_by_names(c.item for c in curations)
    computed = {c.item: c.item in ids and reach.distance_of(int(index.positions([ids[c.item]])[0])) > 0
                for c in curations}
    decided = {c.item: c.decision for c in curations}
    excluded = sum(1 for c in curations if c.decision == "excluded" and computed[c.item])
    impacted = [i.model_copy(update={"curation": decided.get(i.name)}) for i in out.impacted]
    return out.model_copy(update={
        "unknown": unknown, "impacted": impacted, "curated_total": out.total - excluded,
        "curations": [_curation_out(c, computed[c.item]) for c in curations], "risk": _risk(ctx, change, out)})


_PAST_ASSESSMENT = ("authorized", "scheduled", "implementing")  # states a normal change reaches once assessed


def _gated(change: Change) -> bool:
    """Whether the gate holds ``change`` to the floor: a normal change past its assessment (the floor was applied
    then; an emergency is approved after the fact, and a standard change by its template, never assessed)."""
    return change.type == "normal" and change.state in _PAST_ASSESSMENT


def _risk(ctx: Context, change: Change, out: ImpactOut) -> RiskOut:
    """The change's risk against the policy's floor for the highest criticality its impact reaches."""
    floor = ctx.policy.cmdb.floor_for(out.highest_criticality)
    if ctx.policy.cmdb.risk_floor_mode == "raise" and floor is not None:
        applied = ("the gate refuses to deploy it at this risk" if _gated(change)
                   else "raised to it when the change is assessed")
        return _risk_line(change, out, floor, applied)
    return _risk_line(change, out, floor, "")


def floor_breach(uow: UnitOfWork, ctx: Context, change: Change) -> str | None:
    """The gate's sentence when a change's risk is below the floor its impact asks for now, after assessment.

    With ``cmdb.risk_floor_mode: raise`` assessment raises the risk to the floor; a CMDB write afterwards (a
    higher criticality, a new dependency) can raise the floor above the risk the approvers approved. The gate
    then refuses (its ``authorized`` rule), naming the item and the path, until the change carries that risk;
    None otherwise. From the change's cached impact brief (one primary-key read when cached)."""
    if ctx.policy.cmdb.risk_floor_mode != "raise" or not _gated(change):
        return None
    summary = impact_summary(uow, ctx, change)
    if summary is None or not summary.risk.below_floor:
        return None
    ref = format_ref(change.id)
    return (f"{ref} was approved at risk {change.risk}, but its impact now reaches {summary.highest_because} "
            f"({summary.highest_criticality}) and cmdb.risk_floor asks at least {summary.risk.floor}: the CMDB "
            f"changed after the assessment; file the change again at risk {summary.risk.floor} (cancel this one), "
            "or correct the CMDB if it is wrong")


def _risk_line(change: Change, out: ImpactOut, floor: Risk | None, applied: str) -> RiskOut:
    below = floor is not None and RISK_ORDER.index(Risk(change.risk)) < RISK_ORDER.index(floor)
    if floor is None:
        why = f"no risk floor for an impact whose highest criticality is {out.highest_criticality or 'none'}"
    else:
        why = (f"the impact reaches {out.highest_because} ({out.highest_criticality}); cmdb.risk_floor asks "
               f"at least {floor.value}" + (f", and the change says {change.risk}" if below else "")
               + (f" ({applied})" if applied and below else ""))
    return RiskOut(change_risk=change.risk, floor=floor.value if floor else None, below_floor=below, why=why)


# --- the summary in the change's own JSON, and the floor applied at assessment ---------------------------

_SUMMARIES: "OrderedDict[tuple, tuple[Any, ImpactSummaryOut]]" = OrderedDict()
_SUMMARIES_LOCK = threading.Lock()
_SUMMARIES_KEPT = 4_096


def impact_summary(uow: UnitOfWork, ctx: Context, change: Change) -> ImpactSummaryOut | None:
    """The change's computed and curated impact in brief, or None while the CMDB was never written.

    A GET of the change calls it: one primary-key read (the CMDB generation) when the answer is cached.
    The cache key holds everything the answer depends on: the database, the change's ``row_version``
    (curating touches the change), the CMDB generation and the policy."""
    known, summary, key = _cached_summary(uow, ctx, change)
    if known:
        return summary
    key = (*key[:-1], uow.cmdb.snapshot())  # cached under the generation it is computed at
    out = _impact(uow, ctx, change, [], None, 0)
    excluded = [c.item for c in out.curations if c.decision == "excluded" and c.computed]
    summary = ImpactSummaryOut(computed=out.total, curated=out.curated_total, excluded=excluded,
                               highest_criticality=out.highest_criticality, highest_because=out.highest_because,
                               services=out.services, production_lines=out.production_lines, unknown=out.unknown,
                               risk=out.risk or _risk(ctx, change, out))
    with _SUMMARIES_LOCK:
        _SUMMARIES[key] = (ctx.policy, summary)
        while len(_SUMMARIES) > _SUMMARIES_KEPT:
            _SUMMARIES.popitem(last=False)
    return summary


def cached_impact_summary(uow: UnitOfWork, ctx: Context, change: Change) -> tuple[bool, ImpactSummaryOut | None]:
    """(True, the summary) when it is known without an impact search (cached, or no CMDB); else (False, None):
    the caller decides where the search may run (not on an event loop: it may wait for an index build)."""
    known, summary, _ = _cached_summary(uow, ctx, change)
    return known, summary


def _cached_summary(uow: UnitOfWork, ctx: Context, change: Change) -> tuple[bool, ImpactSummaryOut | None, tuple]:
    generation = uow.cmdb.generation()
    if generation == 0:
        return True, None, ()
    key = (uow.cmdb.index_key(), change.id, change.row_version, generation)
    with _SUMMARIES_LOCK:
        hit = _SUMMARIES.get(key)
        if hit is not None and hit[0] is ctx.policy:
            _SUMMARIES.move_to_end(key)
            return True, hit[1], key
    return False, None, key


def apply_risk_floor(uow: UnitOfWork, ctx: Context, change: Change) -> dict | None:
    """At assessment, with ``cmdb.risk_floor_mode: raise``: a risk below the policy's floor for the highest
    criticality the change's impact reaches is raised to it. Returns what was done and why, for the
    assessment's audit event (None if nothing was)."""
    if ctx.policy.cmdb.risk_floor_mode != "raise" or not uow.cmdb.has_items():
        return None
    out = _impact(uow, ctx, change, [], None, 0)
    floor = ctx.policy.cmdb.floor_for(out.highest_criticality)
    if floor is None or RISK_ORDER.index(Risk(change.risk)) >= RISK_ORDER.index(floor):
        return None
    why = (f"the impact reaches {out.highest_because} ({out.highest_criticality}); cmdb.risk_floor asks at "
           f"least {floor.value}")
    raised = {"from": change.risk, "to": floor.value, "why": why}
    change.risk = floor.value
    return {"risk_floor": raised}


def _curation_out(c: CmdbCuration, computed: bool) -> CurationOut:
    return CurationOut(item=c.item, decision=c.decision, reason=c.reason, by=c.curated_by, at=c.curated_at,
                       computed=computed)


def curate_impact(uow: UnitOfWork, ctx: Context, ref: str, data: CurationIn) -> ImpactOut:
    """Record the requester's (or a change manager's) decision on one impacted item, audited on the change."""
    change = load(uow, ref, for_update=True)
    ctx.require(Permission.CHANGE_MANAGE, change=facts_of(change))
    if change.state in {s.value for s in TERMINAL_STATES}:
        raise Refused(f"{format_ref(change.id)} is {change.state}: its impact can no longer be curated")
    names = list(dict.fromkeys(i.name for i in change.items))
    uow.cmdb.snapshot()  # the ids and the index: one state of the CMDB
    known = uow.cmdb.ids_by_names([*names, data.item])
    touched = [n for n in names if n in known]
    if data.item not in known or not touched or not _in_reach(uow, ctx, touched, known[data.item]):
        raise InvalidInput(f"{data.item!r} is not in the computed impact of {format_ref(change.id)} (see "
                           f"'change impact {format_ref(change.id)}')", field="item")
    row = uow.cmdb.curation(change.id, data.item)
    before = row.decision if row is not None else None
    if row is None:
        row = uow.cmdb.add(CmdbCuration(change_id=change.id, item=data.item, decision=data.decision,
                                        reason=data.reason, curated_by=ctx.actor.id, curated_at=ctx.now))
    else:
        row.decision, row.reason, row.curated_by, row.curated_at = data.decision, data.reason, ctx.actor.id, ctx.now
    uow.audit.append(AuditRecord(
        actor=ctx.actor.id, action="change.impact_curated", entity=f"change:{change.id}",
        detail={"item": data.item, "decision": data.decision, "reason": data.reason, "before": before}), ctx.now)
    uow.changes.touch(change, ctx.now)  # the change's row_version moves: its cached impact summary is not reused
    uow.session.flush()
    return _impact(uow, ctx, change, [], None, 200)


def _in_reach(uow: UnitOfWork, ctx: Context, touched: list[str], item_id: int) -> bool:
    """Whether the touched items impact the item: a search that stops when it meets it, with no lookup of
    names or summary (one generation read)."""
    from .cmdb import graph

    index = graph(uow, ctx.policy)
    ids = uow.cmdb.ids_by_names(touched)
    return index.reaches(index.positions(ids[n] for n in touched if n in ids), int(index.positions([item_id])[0]))
