"""The deployment gate: what a pipeline asks right before it deploys. Every evaluation is audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from ..core.gate import rules as gate
from ..core.audit import AuditRecord
from ..core.authz import authorize
from ..core.changes.entities import ChangeType, format_ref
from ..core.decisions import Reason
from ..core.errors import InvalidInput, Refused
from ..core.gate.policy import OVERRIDABLE
from ..core.policy.model import Permission, Policy
from ..db.models import Change
from ..db.uow import UnitOfWork, group_commit
from ..schemas.gate import GateOut
from . import cmdb_changes, schedule, sqlcheck
from .changes import authenticated
from .lookup import load
from .context import Context
from .read_model import ReadModel
from .views import facts_of


def evaluate(uow: UnitOfWork, ctx: Context, ref: str, environment: str, at: datetime | None = None) -> GateOut:
    """May ``ctx.actor`` deploy change ``ref`` to ``environment`` at ``at`` (default now)?"""
    _known(ctx, environment)
    return _decide(uow, ctx, load(uow, ref), environment, at)


def evaluate_for_token(open_uow: Callable[..., UnitOfWork], policy: Policy, secret: str, ref: str,
                       environment: str, at: datetime | None, now: datetime, kept: ReadModel | None = None) -> GateOut:
    """``evaluate`` for an API token (the API's path).

    The decision is read in one snapshot (two statements: the change view with the caller's token, and
    every other fact the rules read); its ``gate.evaluated`` event is then appended in a write
    transaction of its own, grouped with the decisions of other requests at that moment
    (``UnitOfWork.audit_afterwards``), and the decision is returned only once its event is committed.
    Nothing but the event is written, so nothing else must commit with it; the event records the
    change's row version, so the state the decision was made on stays identifiable in the chain.
    ``kept``: the facts read are kept there under the read version, for ``decide_kept``."""
    with open_uow(write=False) as uow:
        uow.read_snapshot()  # PostgreSQL: both statements read one snapshot (REPEATABLE READ)
        ctx, view = authenticated(uow, policy, secret, ref, now)
        change = view.change
        _known(ctx, environment)
        ctx.require(Permission.CHANGE_READ, change=facts_of(change))
        when = at or ctx.now
        reads = uow.changes.gate_superset(change.id, change.environment, when, sqlcheck.CHECK_KINDS)
        verdict = verdict_of(ctx, change, facts_from(uow, ctx, change, environment, when, reads))
        uow.audit_afterwards(_evaluated(ctx, change, verdict, when), ctx.now)
    if kept is not None:
        kept.keep_gate(policy, view.version, secret, view.token, change, facts_of(change), reads, when)
    return GateOut.from_verdict(verdict, when, ctx.policy.schedule.timezone_for(environment))


def decide_kept(kept: ReadModel, version: int | None, policy: Policy, secret: str, ref: str, environment: str,
                at: datetime | None, now: datetime) -> tuple[GateOut, AuditRecord] | None:
    """The decision from facts kept under ``version``, the current read version (``ReadModel.version``), and the
    event to record before answering (``record_decision``); None when anything is not kept or still valid,
    or when the decision needs more than the kept facts (a CMDB search), or is a refusal (to be audited):
    the caller then takes ``evaluate_for_token``."""
    found = kept.gate_facts(version, policy, secret, ref, now)
    if found is None or environment not in policy.environments:
        return None
    person, change, facts, reads = found
    ctx = Context(policy=policy, actor=person, now=now)
    when = at or now
    if when < reads.read_from or not ctx.may(Permission.CHANGE_READ, change=facts):
        return None
    try:
        verdict = verdict_of(ctx, change, facts_from(_NO_READS, ctx, change, environment, when, reads.reads))
    except _NeedsRead:
        return None
    out = GateOut.from_verdict(verdict, when, policy.schedule.timezone_for(environment))
    return out, _evaluated(ctx, change, verdict, when)


def record_decision(kept: ReadModel, record: AuditRecord, now: datetime) -> None:
    """Append a kept decision's event, grouped with others (``GroupCommit``); returns once committed."""
    group_commit(kept.engine).append([(record, now)])


class _NeedsRead(Exception):
    """A kept decision needs a read the kept facts do not hold (the CMDB's dependencies)."""


class _NoReads:
    """The unit of work a kept decision gets: any read it tries means "decide afresh"."""

    def __getattr__(self, name):
        raise _NeedsRead(name)


_NO_READS = _NoReads()


def _known(ctx: Context, environment: str) -> None:
    if environment not in ctx.policy.environments:
        raise InvalidInput(f"unknown environment {environment!r} (known: {', '.join(ctx.policy.environments)})",
                           field="environment")


def _decide(uow: UnitOfWork, ctx: Context, change, environment: str, at: datetime | None) -> GateOut:
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    when = at or ctx.now
    verdict = verdict_for(uow, ctx, change, environment, when)
    uow.audit.append(_evaluated(ctx, change, verdict, when), ctx.now)
    return GateOut.from_verdict(verdict, when, ctx.policy.schedule.timezone_for(environment))


def _evaluated(ctx: Context, change, verdict: gate.GateVerdict, when: datetime) -> AuditRecord:
    """The decision as the chain keeps it: every rule with its outcome and reason (what GateOut shows),
    the instant it was asked for, and the change's row version it was decided on."""
    return AuditRecord(actor=ctx.actor.id, action="gate.evaluated", entity=f"change:{change.id}",
                       detail={**verdict.to_dict(), "at": when.isoformat(), "row_version": change.row_version})


def verdict_for(uow: UnitOfWork, ctx: Context, change: Change, environment: str, when: datetime) -> gate.GateVerdict:
    """The Final Checkout for ``ctx.actor`` deploying ``change`` to ``environment`` at ``when``; not audited
    here (the caller records it: as gate.evaluated, or in the start event)."""
    return verdict_of(ctx, change, facts_for(uow, ctx, change, environment, when))


def verdict_of(ctx: Context, change: Change, facts: gate.GateFacts) -> gate.GateVerdict:
    return gate.evaluate(ctx.policy, facts_of(change), change.version_label, facts)


def facts_for(uow: UnitOfWork, ctx: Context, change: Change, environment: str, when: datetime) -> gate.GateFacts:
    """What the gate judges ``change`` on. Besides the change (ORM row or view record), one statement reads
    every fact (``ChangeRepository.gate_reads``); pages show some of them (the stored SQL check) too."""
    duration = timedelta(minutes=change.estimated_downtime_minutes or 0)
    reads = uow.changes.gate_reads(change.id, change.environment, when, schedule.slot_end(when, duration),
                                   sqlcheck.CHECK_KINDS)
    return facts_from(uow, ctx, change, environment, when, reads)


def facts_from(uow: UnitOfWork, ctx: Context, change: Change, environment: str, when: datetime,
               reads) -> gate.GateFacts:
    """``facts_for`` from reads already made, for a slot from ``when`` or earlier (narrowed here)."""
    duration = timedelta(minutes=change.estimated_downtime_minutes or 0)
    reads = reads.narrowed(when, schedule.slot_end(when, duration))
    return gate.GateFacts(
        now=when,
        deployer=ctx.actor,
        environment=environment,
        schedule=schedule.timing_verdict(ctx, change, environment, when, duration, reads.freezes),
        refreshed_at={name: reads.refreshed.get(name)
                      for name, env in ctx.policy.environments.items() if env.refresh_max_age_days is not None},
        rollback_tests=sum(1 for e in change.evidence if e.kind == "rollback_test"),
        sql_check=sqlcheck.stored_check(reads.blobs),
        unaccepted_conflicts=tuple(c.sentence for c in schedule.conflicts_among(uow, ctx, change, when, reads.holders,
                                                                                 reads.accepted)
                                   if not c.accepted),
        template=ctx.policy.template(change.template_id) if change.template_id else None,
        risk_floor=cmdb_changes.floor_breach(uow, ctx, change),  # the CMDB moved since the assessment (issue 15)
    )


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
