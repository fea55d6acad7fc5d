"""The deployment gate: what a pipeline asks right before it deploys. Every evaluation is audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..core.gate import rules as gate
from ..core.audit import AuditRecord
from ..core.authz import authorize
from ..core.changes.entities import ChangeType, format_ref
from ..core.decisions import Reason
from ..core.errors import InvalidInput, Refused
from ..core.gate.policy import OVERRIDABLE
from ..core.policy.model import Permission, Policy
from ..db.models import Change
from ..db.uow import UnitOfWork
from ..schemas.gate import GateOut
from . import schedule, sqlcheck
from .changes import authenticated_view
from .lookup import load
from .context import Context
from .views import facts_of


def evaluate(uow: UnitOfWork, ctx: Context, ref: str, environment: str, at: datetime | None = None) -> GateOut:
    """May ``ctx.actor`` deploy change ``ref`` to ``environment`` at ``at`` (default now)?"""
    if environment not in ctx.policy.environments:
        raise InvalidInput(f"unknown environment {environment!r} (known: {', '.join(ctx.policy.environments)})",
                           field="environment")
    return _decide(uow, ctx, load(uow, ref), environment, at)


def evaluate_for_token(uow: UnitOfWork, policy: Policy, secret: str, ref: str, environment: str,
                       at: datetime | None, now: datetime) -> GateOut:
    """``evaluate`` for an API token: the caller and the change come from the one-statement view read."""
    ctx, change = authenticated_view(uow, policy, secret, ref, now)
    if environment not in ctx.policy.environments:
        raise InvalidInput(f"unknown environment {environment!r} (known: {', '.join(ctx.policy.environments)})",
                           field="environment")
    return _decide(uow, ctx, change, environment, at)


def _decide(uow: UnitOfWork, ctx: Context, change, environment: str, at: datetime | None) -> GateOut:
    facts = facts_of(change)
    ctx.require(Permission.CHANGE_READ, change=facts)
    when = at or ctx.now
    verdict = verdict_for(uow, ctx, change, environment, when)
    uow.audit.append(AuditRecord(actor=ctx.actor.id, action="gate.evaluated", entity=f"change:{change.id}",
                                 detail={**verdict.to_dict(), "at": when.isoformat()}), ctx.now)
    return GateOut.from_verdict(verdict, when, ctx.policy.schedule.timezone_for(environment))


def verdict_for(uow: UnitOfWork, ctx: Context, change: Change, environment: str, when: datetime) -> gate.GateVerdict:
    """The Final Checkout for ``ctx.actor`` deploying ``change`` to ``environment`` at ``when``; not audited
    here (the caller records it: as gate.evaluated, or in the start event)."""
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
        template=ctx.policy.template(change.template_id) if change.template_id else None,
    )
    return gate.evaluate(ctx.policy, facts_of(change), change.version_label, gate_facts)


def check_start(uow: UnitOfWork, ctx: Context, change: Change, override_reason: str = "") -> dict:
    """The gate enforced on ``change start`` where the policy says so (production by default).

    Returns what the start event records (the evaluation, and any override); raises Refused, audited,
    with every failing rule when the gate is blocked. An emergency change may pass over the rules in
    OVERRIDABLE with a typed reason by a holder of gate.override, as scheduling allows for blackouts.
    """
    policy = ctx.policy
    if not policy.gate.enforced_on_start(policy.environments.get(change.environment), change.environment):
        return {}
    verdict = verdict_for(uow, ctx, change, change.environment, ctx.now)
    detail: dict = {"gate": {**verdict.to_dict(), "at": ctx.now.isoformat()}}
    if verdict.allowed:
        return detail
    problems = [Reason(r.rule.value, r.message) for r in verdict.failures]
    override, why_not = _override(ctx, change, verdict, override_reason)
    if override is not None:
        return {**detail, "gate_override": override}
    failing = ", ".join(dict.fromkeys(r.rule.value for r in verdict.failures))
    err = Refused(f"cannot start {format_ref(change.id)}: the Final Checkout gate for {change.environment} is "
                  f"BLOCKED (failing: {failing})", reasons=(*problems, *why_not))
    err.audit = AuditRecord(actor=ctx.actor.id, action="change.start.refused", entity=f"change:{change.id}",
                            before={"state": change.state},
                            detail={"reasons": [r.to_dict() for r in err.reasons], **detail})
    raise err


def _override(ctx: Context, change: Change, verdict: gate.GateVerdict, reason: str
              ) -> tuple[dict | None, list[Reason]]:
    """The emergency override of a blocked gate: its audit record, or why there is none."""
    emergency = change.type == ChangeType.EMERGENCY.value
    hard = [r.rule.value for r in verdict.failures if r.rule not in OVERRIDABLE]
    if not emergency:
        return None, ([Reason("override_not_allowed", "only an emergency change may override the gate")]
                      if reason.strip() else [])
    if hard:
        return None, [Reason("not_overridable", f"no override passes over {', '.join(dict.fromkeys(hard))}")]
    if not reason.strip():
        return None, [Reason("override_needed", "an emergency change may start despite this, with a typed reason "
                             "(--override-reason) by a holder of gate.override")]
    decision = authorize(ctx.policy, ctx.actor, Permission.GATE_OVERRIDE)
    if not decision.allowed:
        return None, list(decision.reasons)
    roles = [r for r in ctx.actor.roles
             if r in ctx.policy.roles and Permission.GATE_OVERRIDE in ctx.policy.roles[r].permissions]
    return {"reason": reason, "roles": roles,
            "overridden": [r.to_dict() for r in verdict.failures]}, []
