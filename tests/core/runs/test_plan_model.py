"""The plan file's model and its errors with file:line: field (read through services/runs_plan.py)."""

from __future__ import annotations

import pytest

from changegate.core.errors import InvalidInput
from changegate.core.runs.values import parse_fraction, parse_seconds
from changegate.services.policy import load_policy
from changegate.services.runs_plan import parse_plan, settings_for
from changegate.settings import DEFAULT_POLICY

POLICY = load_policy(DEFAULT_POLICY)


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_plan(text, "plan.yaml", POLICY)
    return [r.message for r in caught.value.reasons]


def test_every_problem_names_its_line_and_field():
    assert problems("""steps:
  - name: install
    run: []
  - name: both
    shell: "true"
    http: {url: "http://x"}
  - name: nothing
checks:
  smoke:
    - {name: up, http: {url: "ftp://x"}}
  performance:
    - {name: lat, shell: "echo 1", samples: 3, threshold: 0.2}
artifact: {name: mes, sha256: abc}
extra: 1
""") == [
        "plan.yaml:3: steps.0.run: the command is empty (write the program and its arguments, e.g. [cp, a, b])",
        "plan.yaml:4: steps.1: give exactly one of run, shell, http, manual (found shell, http)",
        "plan.yaml:7: steps.2: give exactly one of run, shell, http, manual (found none)",
        "plan.yaml:10: checks.smoke.0.http.url: 'ftp://x' is not an http:// or https:// URL",
        "plan.yaml:12: checks.performance.0.samples: 3 samples: take 5 to 1000 (fewer cannot tell noise from a "
        "regression)",
        "plan.yaml:12: checks.performance.0.threshold: 0.2 is not a percentage (write e.g. 20%)",
        "plan.yaml:13: artifact.sha256: not a SHA-256 checksum (64 lower-case hexadecimal digits)",
        "plan.yaml:14: extra: unknown field",
    ]


def test_a_manual_step_needs_a_role_somebody_holds():
    assert problems("steps:\n  - {name: stop, manual: stop the database}\n") == [
        "plan.yaml:2: steps.0: a manual step needs the role whose holders confirm it (role: …)"]
    assert problems("steps:\n  - {name: stop, manual: stop the database, role: dba}\n")[0].startswith(
        "plan.yaml:2: steps.0.role: unknown role 'dba' (declared roles: auditor, cab_member")


def test_malformed_yaml_and_duplicates_are_named_too():
    assert problems("steps:\n  - name: a\n    name: b\n    run: [x]\n") == [
        "plan.yaml:3: steps.0.name: duplicate key (first at line 2)"]
    assert problems("steps: [\n") [0].startswith("plan.yaml:2:1: malformed YAML")
    assert problems("steps: []\n") == ["plan.yaml:1: (document): a plan has its steps under steps: or under waves:, one of the two"]


def test_timing_comes_from_the_policy_unless_the_plan_says_otherwise():
    plan = parse_plan("steps: [{name: a, run: ['true']}]\n", "p.yaml", POLICY)
    s = settings_for(plan, POLICY, "undo", "sh")
    assert (s.check_after, s.threshold, s.on_failure.value) == (900.0, 0.2, "rollback")
    plan = parse_plan("steps: [{name: a, run: ['true']}]\ntiming: {check_after: 2s, on_failure: pause}\n", "p.yaml",
                      POLICY)
    s = settings_for(plan, POLICY, "undo", "sh")
    assert (s.check_after, s.on_failure.value) == (2.0, "pause")


def test_durations_and_percentages_need_their_unit():
    assert parse_seconds("1h30m") == 5400 and parse_seconds("250ms") == 0.25
    assert parse_fraction("20%") == 0.2
    for bad in (15, "15", "soon"):
        with pytest.raises(ValueError):
            parse_seconds(bad)


def test_the_policy_deploy_section_has_defaults_and_names_its_mistakes():
    from changegate.core.errors import PolicyError
    from changegate.services.policy import parse_policy

    assert POLICY.deploy.check_after == 900 and POLICY.deploy.rollback_limit == 900
    with pytest.raises(PolicyError) as caught:
        parse_policy("environments: {}\nroles: {}\ndeploy:\n  check_after: 15\n  on_failure: retry\n", "p.yaml")
    assert caught.value.problems[0] == ("p.yaml:4: deploy.check_after: 15 is not a duration with a unit "
                                        "(write e.g. 30s, 15m, 1h30m, 250ms)")
    assert caught.value.problems[1].startswith("p.yaml:5: deploy.on_failure:")


def test_the_plan_in_docs_runner_md_is_a_valid_plan():
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "runner.md").read_text()
    example = doc.split("```yaml\n")[1].split("```")[0].replace("<64 hex digits>", "ab" * 32)
    plan = parse_plan(example, "runner.md", POLICY)
    assert [s.name for s in plan.steps] == ["stop the line", "install", "reload"]
    assert plan.checks.performance[2].prometheus.query == "sum(rate(mes_labels_total[1m]))"


def test_early_life_monitoring_timing_and_its_defaults():
    plan = parse_plan("steps: [{name: a, shell: 'true'}]\ntiming: {monitor_for: 1h, monitor_every: 5m, "
                      "on_failure: pause}\n", "plan.yaml", POLICY)
    settings = settings_for(plan, POLICY, "", "")
    assert (settings.monitor_for, settings.monitor_every, settings.on_monitor_failure.value) == (3600, 300, "pause")
    plain = settings_for(parse_plan("steps: [{name: a, shell: 'true'}]\n", "plan.yaml", POLICY), POLICY, "", "")
    assert plain.monitor_for == 0 and plain.on_monitor_failure.value == "rollback"  # none unless the plan asks
    assert problems("steps: [{name: a, shell: 'true'}]\ntiming:\n  monitor_every: 0s\n"
                    "  on_monitor_failure: shout\n") == [
        "plan.yaml:3: timing.monitor_every: monitor_every must be longer than zero",
        "plan.yaml:4: timing.on_monitor_failure: Input should be 'rollback', 'pause' or 'alarm'"]
