"""The deployment gate: what a pipeline asks right before it deploys. Every evaluation is audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..core.gate import rules as gate
from ..core.audit import AuditRecord
from ..core.errors import InvalidInput
from ..core.policy.model import Permission
from ..db.uow import UnitOfWork
from ..schemas.gate import GateOut
from . import schedule, sqlcheck
from .changes import load
from .context import Context
from .views import facts_of


def evaluate(uow: UnitOfWork, ctx: Context, ref: str, environment: str, at: datetime | None = None) -> GateOut:
    """May ``ctx.actor`` deploy change ``ref`` to ``environment`` at ``at`` (default now)?"""
    if environment not in ctx.policy.environments:
        raise InvalidInput(f"unknown environment {environment!r} (known: {', '.join(ctx.policy.environments)})",
                           field="environment")
    change = load(uow, ref)
    facts = facts_of(change)
    ctx.require(Permission.CHANGE_READ, change=facts)
    when = at or ctx.now
    duration = timedelta(minutes=change.estimated_downtime_minutes or 0)
    refreshed = {
        name: (fact.data_refreshed_at if (fact := uow.environment_facts.get(name)) else None)
        for name, env in ctx.policy.environments.items() if env.refresh_max_age_days is not None
    }
    gate_facts = gate.GateFacts(
        now=when,
        deployer=ctx.actor,
        environment=environment,
        schedule=schedule.timing_verdict(uow, ctx, change, environment, when, duration),
        refreshed_at=refreshed,
        rollback_tests=sum(1 for e in change.evidence if e.kind == "rollback_test"),
        sql_check=sqlcheck.stored_check(uow, change),
        unaccepted_conflicts=tuple(c.sentence for c in schedule.conflicts_of(uow, ctx, change, start=when)
                                   if not c.accepted),
    )
    verdict = gate.evaluate(ctx.policy, facts, change.version_label, gate_facts)
    uow.audit.append(AuditRecord(actor=ctx.actor.id, action="gate.evaluated", entity=f"change:{change.id}",
                                 detail={**verdict.to_dict(), "at": when.isoformat()}), ctx.now)
    return GateOut.from_verdict(verdict, when, ctx.policy.schedule.timezone_for(environment))
