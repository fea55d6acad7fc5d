"""Reading a deployment plan file: every problem as ``file:line: field: sentence``, like the policy file."""

from __future__ import annotations

from pydantic import ValidationError

from ..core.decisions import Reason
from ..core.errors import InvalidInput
from ..core.policy.model import Policy
from ..core.runs.lease import LeaseTiming, lease_timing
from ..core.runs.plan import OnFailure, OnMonitorFailure, Plan, check_against_policy
from ..db import engine as db_engine
from ..runner.engine import Settings
from ..schemas.common import problems as validation_problems


def _invalid(filename: str, problems: list[str]) -> InvalidInput:
    return InvalidInput(f"{filename}: invalid deployment plan",
                        reasons=tuple(Reason("invalid_plan", p) for p in problems), field="plan")


PROBE_TIMEOUT = 5.0  # seconds a Prometheus server gets to answer when a plan naming it is attached


def parse_plan(text: str, filename: str, policy: Policy, *, probe: bool = False) -> Plan:
    """The plan, or every problem as ``file:line: field: sentence``. ``probe``: also ask each Prometheus
    server the plan names whether it answers (when a plan is attached: a wrong URL is found then, not at
    the baseline of a deployment in its window)."""
    from ..core.policy.yamlsource import YamlSourceError, parse_yaml

    try:
        doc = parse_yaml(text, filename)
    except YamlSourceError as exc:
        raise _invalid(filename, list(exc.problems)) from exc
    if not isinstance(doc.data, dict):
        raise _invalid(filename, [f"{filename}:1: (document): a plan is a mapping (steps:, checks:, …)"])
    try:
        plan = Plan.model_validate(doc.data)
    except ValidationError as exc:
        found = sorted(validation_problems(exc), key=lambda p: doc.line_of(p.loc) or 0)  # in the file's order
        raise _invalid(filename, [f"{doc.locate(p.loc)}: {p.message}" for p in found]) from exc
    holders = {role: [p.id for p in policy.holders(role)] for role in policy.roles}
    problems = [f"{doc.locate(path)}: {message}" for path, message in check_against_policy(plan, holders)]
    if probe and not problems:
        problems = [f"{doc.locate(path)}: {message}" for path, message in _unanswered(plan)]
    if problems:
        raise _invalid(filename, problems)
    return plan


def _unanswered(plan: Plan) -> list[tuple[tuple, str]]:
    """The Prometheus URLs of the plan's performance checks that do not answer a query, with their paths."""
    from ..runner.execute import prometheus_problem

    answers: dict[str, str | None] = {}  # one question per server
    problems = []
    for i, check in enumerate(plan.checks.performance):
        if check.prometheus is None:
            continue
        url = check.prometheus.url
        if url not in answers:
            answers[url] = prometheus_problem(url, PROBE_TIMEOUT)
        if answers[url] is not None:
            problems.append((("checks", "performance", i, "prometheus", "url"), answers[url]))
    return problems


def settings_for(plan: Plan, policy: Policy, rollback_script: str, rollback_interpreter: str, *,
                 rehearsal: bool = False) -> Settings:
    """The plan's own timing, or the policy's deploy defaults."""
    deploy = policy.deploy
    on_failure = plan.timing.on_failure or OnFailure(deploy.on_failure)
    return Settings(
        check_after=plan.timing.check_after if plan.timing.check_after is not None else deploy.check_after,
        threshold=deploy.threshold,
        on_failure=on_failure,
        rollback_script=rollback_script, rollback_interpreter=rollback_interpreter or "sh", rehearsal=rehearsal,
        monitor_for=0.0 if rehearsal else plan.timing.monitor_for, monitor_every=plan.timing.monitor_every,
        on_monitor_failure=plan.timing.on_monitor_failure or OnMonitorFailure(on_failure.value))


def lease_for(policy: Policy, dialect: str) -> LeaseTiming:
    """The policy's ``deploy.lease`` checked against the database's writer wait (core/runs/lease.py): a
    ``PolicyError`` when a live worker waiting behind a long writer could lose its lease. SQLite: a write waits
    up to ``WRITER_WAIT_SECONDS`` (the writer queue, the busy timeout). PostgreSQL: a renewal waits only for the
    run row's lock, which every writer holds for one short transaction: no writer wait to speak of."""
    wait = float(db_engine.WRITER_WAIT_SECONDS) if dialect == "sqlite" else 0.0
    return lease_timing(policy.deploy.lease, wait)
