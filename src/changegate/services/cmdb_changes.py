"""A change's impact from the CMDB, and its curation: the requester confirms or excludes impacted items.

The computed impact is computed afresh from the CMDB each time it is read; the curation (the newest
decision per item, every decision audited on the change) is stored, so the approvers see both: each
impacted item carries its curation, and the decisions are listed with whether their item is still in
the computed impact.
"""

from __future__ import annotations

from ..core.audit import AuditRecord
from ..core.changes.entities import TERMINAL_STATES, Risk, format_ref
from ..core.cmdb.policy import RISK_ORDER
from ..core.errors import InvalidInput, Refused
from ..core.policy.model import Permission
from ..db.models import Change, CmdbCuration
from ..db.uow import UnitOfWork
from ..schemas.cmdb import CurationIn, CurationOut, ImpactOut, ImpactQuery, RiskOut
from .cmdb import impact_with_reach
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
    known = uow.cmdb.ids_by_names(names)
    touched = [n for n in names if n in known]
    unknown = [n for n in names if n not in known]
    curations = uow.cmdb.curations(change.id)
    if not touched:
        return ImpactOut(touched=[], unknown=unknown, impacted=[], total=0, truncated=False, services=[],
                         production_lines=[], highest_criticality=None, types=types, depth=depth,
                         curations=[_curation_out(c, False) for c in curations], curated_total=0)
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


def _risk(ctx: Context, change: Change, out: ImpactOut) -> RiskOut:
    """The change's risk against the policy's floor for the highest criticality its impact reaches."""
    floor = ctx.policy.cmdb.floor_for(out.highest_criticality)
    below = floor is not None and RISK_ORDER.index(Risk(change.risk)) < RISK_ORDER.index(floor)
    if floor is None:
        why = f"no risk floor for an impact whose highest criticality is {out.highest_criticality or 'none'}"
    else:
        why = (f"the impact reaches {out.highest_because} ({out.highest_criticality}); cmdb.risk_floor asks "
               f"at least {floor.value}" + (f", and the change says {change.risk}" if below else ""))
    return RiskOut(change_risk=change.risk, floor=floor.value if floor else None, below_floor=below, why=why)


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
    uow.session.flush()
    return _impact(uow, ctx, change, [], None, 200)


def _in_reach(uow: UnitOfWork, ctx: Context, touched: list[str], item_id: int) -> bool:
    _, index, reach = impact_with_reach(uow, ctx.policy, ImpactQuery(items=touched, limit=0))
    return reach.distance_of(int(index.positions([item_id])[0])) > 0
