"""The Final Checkout gate (seed 000): may this change be deployed to this environment now?

Each rule yields pass, fail or not assessed with a sentence. The gate opens when
no applicable rule fails; "not assessed" never counts as a pass and is shown as
such. Which rules apply in which environment is policy (``gate:`` section).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..changes.approvals import approval_status
from ..authz import authorize
from ..changes.entities import ChangeFacts, ChangeType, EmergencyStatus, State
from ..decisions import Decision
from .policy import Rule, Status
from ..changes.lifecycle import emergency_status
from ..policy.durations import format_minutes
from ..policy.model import Permission, Person, Policy, StandardTemplate


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: Rule
    status: Status
    message: str

    def to_dict(self) -> dict:
        return {"rule": self.rule.value, "status": self.status.value, "message": self.message}


@dataclass(frozen=True, slots=True)
class SqlCheckFact:
    """The stored result of the SQL safety check for the change's current scripts."""

    passed: bool
    idempotent: bool
    reversible: bool
    summary: str
    stale: bool = False  # a script was attached again after the check: the result no longer counts


@dataclass(frozen=True)
class GateFacts:
    """Everything the gate reads besides the change itself; the service gathers it."""

    now: datetime
    deployer: Person
    environment: str
    schedule: Decision | None  # the schedule's verdict on deploying now for the change's downtime
    refreshed_at: dict[str, datetime | None] = field(default_factory=dict)  # per environment with a max age
    rollback_tests: int = 0  # evidence of a rehearsed rollback (kind rollback_test)
    sql_check: SqlCheckFact | None = None
    unaccepted_conflicts: tuple[str, ...] = ()  # sentences, one per conflicting change
    template: StandardTemplate | None = None  # the standard-change template the change was filed from
    risk_floor: str | None = None  # why the change's risk is below the CMDB's floor since its assessment (issue 15)


@dataclass(frozen=True)
class GateVerdict:
    change: str
    environment: str
    allowed: bool
    results: tuple[RuleResult, ...]

    @property
    def failures(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.status is Status.FAIL)

    def to_dict(self) -> dict:
        return {"change": self.change, "environment": self.environment, "allowed": self.allowed,
                "results": [r.to_dict() for r in self.results]}


def _authorized(policy: Policy, change: ChangeFacts, facts: GateFacts) -> RuleResult:
    if change.type is ChangeType.EMERGENCY:
        status = emergency_status(change, policy, facts.now)
        if status is EmergencyStatus.REJECTED:
            return RuleResult(Rule.AUTHORIZED, Status.FAIL, "an approver rejected this emergency change")
        if change.state in (State.SUBMITTED, State.ASSESSED, State.AUTHORIZED, State.SCHEDULED, State.IMPLEMENTING):
            return RuleResult(Rule.AUTHORIZED, Status.PASS,
                              f"emergency path: retroactive approval {status.value}"
                              + ("" if status is EmergencyStatus.APPROVED else " (due within the policy deadline)"))
    if change.state in (State.AUTHORIZED, State.SCHEDULED, State.IMPLEMENTING):
        required = approval_status(policy, change).required
        who = ", ".join(required) if required else "the standard-change template"
        return RuleResult(Rule.AUTHORIZED, Status.PASS, f"authorized by {who}")
    return RuleResult(Rule.AUTHORIZED, Status.FAIL, f"the change is {change.state.value}, not authorized")


def _timing(change: ChangeFacts, facts: GateFacts) -> RuleResult:
    if facts.schedule is None:
        return RuleResult(Rule.TIMING, Status.NOT_ASSESSED, "no schedule verdict was available")
    if facts.schedule.allowed:
        detail = facts.schedule.summary()
        return RuleResult(Rule.TIMING, Status.PASS, detail or "now is inside an allowed window, outside every blackout")
    return RuleResult(Rule.TIMING, Status.FAIL, facts.schedule.summary())


def _in_slot(policy: Policy, change: ChangeFacts, facts: GateFacts) -> RuleResult:
    """Timing, second half: "now" lies in the slot the change was scheduled and approved for, not
    merely in some window. The slot opens ``start_tolerance`` early and closes when the planned
    downtime is over."""
    if change.planned_start is None:
        return RuleResult(Rule.TIMING, Status.FAIL, f"{change.ref} has no planned start: schedule it first")
    tolerance = timedelta(minutes=policy.gate.start_tolerance)
    opens = change.planned_start - tolerance
    closes = change.planned_start + timedelta(minutes=change.estimated_downtime_minutes or 0)
    slot = (f"{change.ref}'s slot {opens:%Y-%m-%d %H:%M}–{closes:%H:%M} UTC (planned start "
            f"{change.planned_start:%H:%M}, {format_minutes(policy.gate.start_tolerance)} early at most)")
    if opens <= facts.now <= closes:
        return RuleResult(Rule.TIMING, Status.PASS, f"now is inside {slot}")
    when = "before" if facts.now < opens else "after"
    return RuleResult(Rule.TIMING, Status.FAIL, f"now ({facts.now:%Y-%m-%d %H:%M} UTC) is {when} {slot}")


def _satisfied_by_template(rule: Rule, facts: GateFacts) -> RuleResult | None:
    template = facts.template
    if template is not None and rule in template.satisfies:
        return RuleResult(rule, Status.PASS, f"satisfied by standard-change template {template.id}")
    return None


def _evidence(change: ChangeFacts) -> RuleResult:
    missing = []
    if change.evidence_count == 0:
        missing.append("no UAT test evidence attached")
    if not change.uat_signed_off:
        missing.append("no UAT sign-off recorded")
    if missing:
        return RuleResult(Rule.EVIDENCE, Status.FAIL, "; ".join(missing))
    return RuleResult(Rule.EVIDENCE, Status.PASS, f"{change.evidence_count} evidence file(s) and a UAT sign-off")


def _rollback(change: ChangeFacts, facts: GateFacts) -> RuleResult:
    if not change.rollback_script.strip():
        return RuleResult(Rule.ROLLBACK, Status.FAIL, "no rollback plan")
    sql = facts.sql_check if facts.sql_check is not None and not facts.sql_check.stale else None
    if sql is not None and sql.reversible:
        return RuleResult(Rule.ROLLBACK, Status.PASS, "the SQL rollback was proven to undo the deploy script")
    if sql is not None and not sql.reversible:
        return RuleResult(Rule.ROLLBACK, Status.FAIL, f"the SQL rollback does not undo the deploy: {sql.summary}")
    if facts.rollback_tests:
        return RuleResult(Rule.ROLLBACK, Status.PASS, "a rollback rehearsal is recorded")
    return RuleResult(Rule.ROLLBACK, Status.FAIL, "a rollback plan exists but no test of it is recorded "
                                                  "(attach a rollback_test or run the SQL check)")


def _isolation(policy: Policy, facts: GateFacts) -> RuleResult:
    decision = authorize(policy, facts.deployer, Permission.CHANGE_IMPLEMENT, environment=facts.environment)
    if decision.allowed:
        return RuleResult(Rule.ISOLATION, Status.PASS, f"{facts.deployer.id} holds deploy rights on "
                                                       f"{facts.environment}")
    return RuleResult(Rule.ISOLATION, Status.FAIL, decision.summary())


def _uat_freshness(policy: Policy, facts: GateFacts) -> RuleResult:
    checked = []
    for name, env in policy.environments.items():
        if env.refresh_max_age_days is None or name == facts.environment:
            continue
        refreshed = facts.refreshed_at.get(name)
        if refreshed is None:
            return RuleResult(Rule.UAT_FRESHNESS, Status.FAIL, f"no data refresh of {name} is recorded")
        age = facts.now - refreshed
        if age >= timedelta(days=env.refresh_max_age_days):
            return RuleResult(Rule.UAT_FRESHNESS, Status.FAIL,
                              f"{name} data was refreshed {age.days} days ago (limit {env.refresh_max_age_days})")
        checked.append(f"{name} refreshed {age.days} days ago")
    if not checked:
        return RuleResult(Rule.UAT_FRESHNESS, Status.NOT_ASSESSED, "no environment declares a refresh limit")
    return RuleResult(Rule.UAT_FRESHNESS, Status.PASS, "; ".join(checked))


def _versioning(version: str | None) -> RuleResult:
    if version:
        return RuleResult(Rule.VERSIONING, Status.PASS, f"ships version {version}")
    return RuleResult(Rule.VERSIONING, Status.FAIL, "the change carries no semantic version")


def _idempotent_sql(facts: GateFacts) -> RuleResult:
    if facts.sql_check is None:
        return RuleResult(Rule.IDEMPOTENT_SQL, Status.NOT_ASSESSED, "no SQL check is recorded for this change")
    if facts.sql_check.stale:
        return RuleResult(Rule.IDEMPOTENT_SQL, Status.NOT_ASSESSED,
                          "the SQL scripts changed after the last check: run the check again")
    if facts.sql_check.idempotent:
        return RuleResult(Rule.IDEMPOTENT_SQL, Status.PASS, "the deploy script was run twice with no change")
    return RuleResult(Rule.IDEMPOTENT_SQL, Status.FAIL, f"the deploy script is not idempotent: {facts.sql_check.summary}")


def _conflicts(facts: GateFacts) -> RuleResult:
    if facts.unaccepted_conflicts:
        return RuleResult(Rule.CONFLICTS, Status.FAIL, "; ".join(facts.unaccepted_conflicts))
    return RuleResult(Rule.CONFLICTS, Status.PASS, "no unaccepted conflict with other scheduled changes")


def evaluate(policy: Policy, change: ChangeFacts, version: str | None,
             facts: GateFacts) -> GateVerdict:
    results = []
    for rule in policy.gate.rules_for(policy.environments.get(facts.environment), facts.environment):
        match rule:
            case Rule.AUTHORIZED:
                results.append(_authorized(policy, change, facts))
                if facts.risk_floor:  # approved at a risk the CMDB's floor no longer allows
                    results.append(RuleResult(Rule.AUTHORIZED, Status.FAIL, facts.risk_floor))
            case Rule.TIMING:
                results += (_timing(change, facts), _in_slot(policy, change, facts))
            case Rule.EVIDENCE:
                results.append(_satisfied_by_template(rule, facts) or _evidence(change))
            case Rule.ROLLBACK:
                results.append(_satisfied_by_template(rule, facts) or _rollback(change, facts))
            case Rule.ISOLATION:
                results.append(_isolation(policy, facts))
            case Rule.UAT_FRESHNESS:
                results.append(_uat_freshness(policy, facts))
            case Rule.VERSIONING:
                results.append(_satisfied_by_template(rule, facts) or _versioning(version))
            case Rule.IDEMPOTENT_SQL:
                results.append(_idempotent_sql(facts))
            case Rule.CONFLICTS:
                results.append(_conflicts(facts))
    if change.environment != facts.environment:
        results.insert(0, RuleResult(Rule.AUTHORIZED, Status.FAIL,
                                     f"{change.ref} targets {change.environment}, not {facts.environment}"))
    allowed = not any(r.status is Status.FAIL for r in results)
    return GateVerdict(change.ref, facts.environment, allowed, tuple(results))
