"""Performance checks against the real service: the median latency of seven timed calls before the
deployment and five at T+N; 30% worse rolls back, 10% worse commits (policy threshold 20%)."""

from __future__ import annotations

import pytest

from test_runs_deploy import ROLLBACK, deploy, plan_for, change_state

from runner_support import scheduled_dev_change


def perf_plan(service, release: str) -> str:
    return plan_for(service, release, checks=f"""checks:
  performance:
    - name: version latency
      http: {{url: "{service.url}/version"}}
      samples: 7
      worse: higher
""")


@pytest.mark.parametrize("latency, outcome", [(0.325, "rolled_back"), (0.275, "committed")])
def test_latency_against_the_baseline_decides_commit_or_rollback(rt, service, latency, outcome):
    (service.live / "latency").write_text("0.25")  # v1 answers in 0.25 s
    service.release("v2", version="2.0.0", latency=latency)
    ref = scheduled_dev_change(rt, ROLLBACK)
    run, _ = deploy(rt, ref, perf_plan(service, "v2"))
    assert run.state == outcome, [s.detail for s in run.steps]
    baseline = next(s for s in run.steps if s.key == "baseline.version latency")
    check = next(s for s in run.steps if s.key == "checks.performance.version latency")
    assert len(baseline.detail["samples"]) == 7 and len(check.detail["samples"]) == 7
    verdict = check.detail["verdict"]
    assert verdict["passed"] is (outcome == "committed")
    assert service.get("/version").text == ("2.0.0" if outcome == "committed" else "1.0.0")
    assert change_state(rt, ref) == ("completed" if outcome == "committed" else "rolled_back")
