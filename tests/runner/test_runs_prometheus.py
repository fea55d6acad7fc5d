"""A performance check from a Prometheus query, against a real Prometheus server (Debian package
``prometheus``, started here on loopback) scraping the release service; and a Prometheus that does not
answer stops the run before anything changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import httpx
import pytest

from changegate.core.errors import InvalidInput
from changegate.schemas.runs import DeployIn, PlanIn
from changegate.services import runs, runs_worker

from runner_support import _free_port, scheduled_dev_change
from test_runs_deploy import ROLLBACK, deploy, plan_for, change_state


def _prometheus_plan(service, url: str) -> str:
    return plan_for(service, "v2", checks=f"""checks:
  performance:
    - name: latency metric
      prometheus: {{url: "{url}", query: "release_latency_seconds"}}
      samples: 5
""")


@pytest.fixture
def prometheus(tmp_path, service):
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CHANGEGATE_REQUIRE_ALL") == "1":
            pytest.fail("prometheus is required (CHANGEGATE_REQUIRE_ALL=1) but not installed")
        pytest.skip("prometheus is not installed")
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: release
    static_configs: [{{targets: ["{service.url.removeprefix('http://')}"]}}]
""")
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # ready, and the release service scraped once
        try:
            answer = httpx.get(f"{url}/api/v1/query", params={"query": "release_latency_seconds"}).json()
            if answer["data"]["result"]:
                break
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "prometheus did not start"
        time.sleep(0.2)
    _running[url] = proc
    yield url
    proc.terminate()
    proc.wait(10)


_running: dict[str, subprocess.Popen] = {}


def stop_prometheus(url: str) -> None:
    proc = _running.pop(url)
    proc.terminate()
    proc.wait(10)


def _scraped(prometheus: str, value: float) -> None:
    """Until Prometheus has scraped the release's latency as ``value``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = httpx.get(f"{prometheus}/api/v1/query", params={"query": "release_latency_seconds"}).json()
        if result["data"]["result"] and float(result["data"]["result"][0]["value"][1]) == value:
            return
        time.sleep(0.2)
    raise AssertionError(f"Prometheus never saw {value}")


def test_a_regression_seen_by_prometheus_rolls_back(rt, service, prometheus):
    (service.live / "latency").write_text("0.25")
    _scraped(prometheus, 0.25)
    service.release("v2", version="2.0.0", latency=0.325)
    ref = scheduled_dev_change(rt, ROLLBACK)
    run, _ = deploy(rt, ref, _prometheus_plan(service, prometheus).replace("check_after: 1s", "check_after: 4s"))
    assert run.state == "rolled_back", run.outcome
    check = next(s for s in run.steps if s.key == "checks.performance.latency metric")
    assert check.detail["verdict"]["before"] == 0.25 and check.detail["verdict"]["after"] == 0.325
    assert service.get("/version").text == "1.0.0" and change_state(rt, ref) == "rolled_back"


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_prometheus_url_that_does_not_answer_is_refused_when_the_plan_is_attached(rt, service):
    """Attaching (or deploying with) a plan asks each Prometheus server it names: a wrong URL is found then,
    with the file's line, and nothing is stored or changed."""
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    nobody = f"http://127.0.0.1:{_free_port()}"
    text = _prometheus_plan(service, nobody)
    line = _line_of(text, "prometheus:")
    with pytest.raises(InvalidInput) as caught, rt.uow() as uow:
        runs.attach_plan(uow, rt.context("rene.release"), ref, PlanIn(filename="plan.yaml", text=text))
    problem = caught.value.reasons[0].message
    assert problem.startswith(f"plan.yaml:{line}: checks.performance.0.prometheus.url: Prometheus at {nobody} "
                              "does not answer: "), problem
    not_prometheus = _prometheus_plan(service, service.url)  # answers, but it is no Prometheus
    with pytest.raises(InvalidInput) as caught:
        deploy(rt, ref, not_prometheus)
    assert caught.value.reasons[0].message == (f"plan.yaml:{line}: checks.performance.0.prometheus.url: Prometheus "
                                               f"at {service.url} answered HTTP 404 with no JSON: is it a "
                                               "Prometheus server?")
    with rt.uow(write=False) as uow:
        assert uow.plans.current(int(ref.removeprefix("CHG-"))) is None and uow.runs.for_change(int(ref.removeprefix("CHG-"))) == []
    assert service.get("/version").text == "1.0.0" and change_state(rt, ref) == "scheduled"


def test_a_prometheus_that_stopped_answering_after_the_plan_was_attached_stops_the_run_before_any_change(
        rt, service, prometheus):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    with rt.uow() as uow:
        runs.attach_plan(uow, rt.context("rene.release"), ref,
                         PlanIn(filename="plan.yaml", text=_prometheus_plan(service, prometheus)))
    stop_prometheus(prometheus)
    worker = runs_worker.worker_id()
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref, DeployIn(environment="dev"), worker=worker)
    assert runs.drive(rt, run.id, worker) == "failed"
    with rt.uow(write=False) as uow:
        run = runs.show_run(uow, rt.context("audrey.audit"), ref)
    assert "could not be sampled" in run.outcome and "does not answer" in run.outcome
    assert "nothing was changed" in run.outcome
    assert service.get("/version").text == "1.0.0" and change_state(rt, ref) == "failed"
