"""The Final Checkout's rules that depend on the change itself: its own slot, its template."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from changegate.core.changes.entities import Category, ChangeFacts, ChangeType, ReleaseLevel, Risk, State
from changegate.core.decisions import Decision
from changegate.core.errors import PolicyError
from changegate.core.gate.policy import Rule, Status
from changegate.core.gate.rules import GateFacts, evaluate
from changegate.services.policy import parse_policy
from changegate.settings import DEFAULT_POLICY

DEFAULT_TEXT = DEFAULT_POLICY.read_text(encoding="utf-8")
POLICY = parse_policy(DEFAULT_TEXT, "default.yaml")
PLANNED = datetime(2026, 12, 8, 8, 0, tzinfo=timezone.utc)  # Tuesday 09:00 Europe/Berlin


def change(**overrides) -> ChangeFacts:
    fields = dict(ref="CHG-7", type=ChangeType.NORMAL, category=Category.APPLICATION,
                  release_level=ReleaseLevel.PATCH, risk=Risk.STANDARD, environment="prod", state=State.SCHEDULED,
                  requester="dana.dev", rollback_script="undo", planned_start=PLANNED, estimated_downtime_minutes=30)
    fields.update(overrides)
    return ChangeFacts(**fields)


def facts(now: datetime, **overrides) -> GateFacts:
    fields = dict(now=now, deployer=POLICY.person("ci-pipeline"), environment="prod", schedule=Decision.allow())
    fields.update(overrides)
    return GateFacts(**fields)


def results_of(rule: Rule, c: ChangeFacts, f: GateFacts, policy=POLICY):
    return [r for r in evaluate(policy, c, None, f).results if r.rule is rule]


@pytest.mark.parametrize(("offset", "inside"), [
    (timedelta(days=-6), False),           # days before its slot, in some other window: not its slot
    (timedelta(minutes=-16), False),
    (timedelta(minutes=-15), True),        # the policy's start_tolerance (15m by default)
    (timedelta(0), True),
    (timedelta(minutes=30), True),         # the slot ends when the planned downtime is over
    (timedelta(minutes=31), False),
])
def test_timing_requires_now_inside_the_changes_own_slot(offset, inside):
    timing = results_of(Rule.TIMING, change(), facts(PLANNED + offset))
    # The schedule's verdict (windows, blackouts) stays; the slot is judged beside it.
    assert [r.status for r in timing] == [Status.PASS, Status.PASS if inside else Status.FAIL]
    slot = timing[1].message
    assert "CHG-7's slot 2026-12-08 07:45–08:30 UTC (planned start 08:00, 15m early at most)" in slot
    if offset == timedelta(days=-6):
        assert slot.startswith("now (2026-12-02 08:00 UTC) is before CHG-7's slot")


def test_the_start_tolerance_is_policy():
    policy = parse_policy(DEFAULT_TEXT.replace("start_tolerance: 15m", "start_tolerance: 1h"), "p.yaml")
    timing = results_of(Rule.TIMING, change(), facts(PLANNED - timedelta(minutes=50)), policy)
    assert timing[1].status is Status.PASS and "1h early at most" in timing[1].message


def test_a_change_without_a_planned_start_has_no_slot():
    timing = results_of(Rule.TIMING, change(planned_start=None), facts(PLANNED))
    assert timing[1].status is Status.FAIL and timing[1].message == "CHG-7 has no planned start: schedule it first"


def test_a_standard_template_satisfies_evidence_rollback_and_versioning_when_it_says_so():
    template = POLICY.template("restart-label-printer-service")
    assert template.satisfies == (Rule.EVIDENCE, Rule.ROLLBACK, Rule.VERSIONING)
    std = change(type=ChangeType.STANDARD, rollback_script="systemctl restart cups")
    by_rule = {r.rule: r for r in evaluate(POLICY, std, None, facts(PLANNED, template=template)).results}
    for rule in (Rule.EVIDENCE, Rule.ROLLBACK, Rule.VERSIONING):
        assert by_rule[rule].status is Status.PASS
        assert by_rule[rule].message == "satisfied by standard-change template restart-label-printer-service"
    # A template that does not say so vouches for nothing: the change owes its own proof.
    bare = template.model_copy(update={"satisfies": ()})
    by_rule = {r.rule: r for r in evaluate(POLICY, std, None, facts(PLANNED, template=bare)).results}
    assert {by_rule[r].status for r in (Rule.EVIDENCE, Rule.ROLLBACK, Rule.VERSIONING)} == {Status.FAIL}


@pytest.mark.parametrize(("value", "problem"), [
    ("[evidence, timing]", "default.yaml:{line}: standard_changes.0.satisfies: a template cannot "
                           "satisfy the timing rule (only evidence, rollback, versioning)"),
    ("[evidence, evidence]", "default.yaml:{line}: standard_changes.0.satisfies: a rule is listed twice"),
    ("[uat_signoff]", "default.yaml:{line}: standard_changes.0.satisfies.0: Input should be 'authorized', 'timing', "
                      "'evidence', 'rollback', 'isolation', 'uat_freshness', 'versioning', 'idempotent_sql' or "
                      "'conflicts'"),
])
def test_what_a_template_satisfies_is_validated_with_file_and_line(value, problem):
    text = DEFAULT_TEXT.replace("satisfies: [evidence, rollback, versioning]", f"satisfies: {value}")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "satisfies:" in t and not t.lstrip().startswith("#"))
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "default.yaml")
    assert exc.value.problems == (problem.format(line=line),)


def test_gate_settings_are_validated_with_file_and_line():
    text = DEFAULT_TEXT.replace("enforce_on_start: {prod: true}", "enforce_on_start: {prd: true}") \
        .replace("start_tolerance: 15m", "start_tolerance: soon")
    lines = text.splitlines()
    tol = next(i for i, t in enumerate(lines, 1) if "start_tolerance:" in t)
    enf = next(i for i, t in enumerate(lines, 1) if "enforce_on_start:" in t)
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "default.yaml")
    assert exc.value.problems == (
        f"default.yaml:{tol}: gate.start_tolerance: 'soon' is not a duration (write e.g. 30m, 2h, 1h30m, 2d)",
    )
    with pytest.raises(PolicyError) as exc:
        parse_policy(text.replace("start_tolerance: soon", "start_tolerance: 15m"), "default.yaml")
    assert exc.value.problems == (f"default.yaml:{enf}: gate.enforce_on_start.prd: unknown environment 'prd'",)


def test_enforcement_on_start_defaults_to_production_environments():
    text = DEFAULT_TEXT.replace("  enforce_on_start: {prod: true}", "")
    policy = parse_policy(text, "p.yaml")
    envs = policy.environments
    assert [n for n in envs if policy.gate.enforced_on_start(envs[n], n)] == ["prod"]
    policy = parse_policy(DEFAULT_TEXT.replace("{prod: true}", "{prod: false, uat: true}"), "p.yaml")
    assert [n for n in envs if policy.gate.enforced_on_start(envs[n], n)] == ["uat"]
