"""The strategy examples of examples/plans/ (seed 004), each run against the real service: the example as
shipped, with its paths, URL and T+15 replaced by the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner_support import scheduled_dev_change
from test_runs_deploy import change_state, deploy

EXAMPLES = Path(__file__).parents[2] / "examples" / "plans"


def example(name: str, service) -> str:
    text = (EXAMPLES / name).read_text()
    return (text.replace("/srv/mes", str(service.root)).replace("http://mes.plant.example:8080", service.url)
            .replace("check_after: 15m", "check_after: 1s"))


def _blue_green_setup(service) -> None:
    """live -> blue, holding release 1.0.0."""
    live = service.live
    live.rename(service.root / "blue")
    live.symlink_to("blue")


@pytest.mark.parametrize("health, outcome", [("ok", "committed"), ("broken", "rolled_back")])
def test_blue_green_switches_and_switches_back(rt, service, health, outcome):
    _blue_green_setup(service)
    next_release = service.release("next", version="2.0.0", health=health)
    assert next_release.name == "next"
    ref = scheduled_dev_change(rt, "true")
    run, _ = deploy(rt, ref, example("blue-green.yaml", service))
    assert run.state == outcome, run.outcome
    side = (service.root / "live").readlink().name
    if outcome == "committed":
        assert side == "green" and service.get("/version").text == "2.0.0"
    else:
        assert side == "blue" and service.get("/version").text == "1.0.0"
        assert (service.root / "green" / "health").read_text() == "broken"  # the idle side keeps the bad release
    assert change_state(rt, ref) == ("completed" if outcome == "committed" else "rolled_back")


@pytest.mark.parametrize("feature_health, outcome", [("ok", "committed"), ("broken", "rolled_back")])
def test_a_feature_toggle_is_switched_off_as_the_rollback(rt, service, feature_health, outcome):
    release = service.release("next", version="2.0.0")
    (release / "feature_health").write_text(feature_health)
    ref = scheduled_dev_change(rt, "true")
    run, _ = deploy(rt, ref, example("feature-toggle.yaml", service))
    assert run.state == outcome, run.outcome
    assert service.get("/version").text == "2.0.0"  # dark launch: the code stays either way
    assert (service.live / "feature").read_text().strip() == ("on" if outcome == "committed" else "off")
    assert service.get("/health").status_code == 200


@pytest.mark.parametrize("health, outcome", [("ok", "committed"), ("broken", "rolled_back")])
def test_canary_waves_stop_at_the_first_line_when_it_fails(rt, service, health, outcome):
    service.release("next", version="2.0.0", health=health)
    ref = scheduled_dev_change(rt, "cp backup/* live/")
    run, _ = deploy(rt, ref, example("canary.yaml", service).replace("check_after: 1m", "check_after: 0s"))
    assert run.state == outcome, run.outcome
    keys = [s.key for s in run.steps]
    rest = service.root / "rest"
    if outcome == "committed":
        assert keys[:4] == ["protect.0", "waves.0.steps.0", "waves.0.checks.line 1 healthy", "waves.1.steps.0"]
        assert (rest / "version").read_text() == "2.0.0" and service.get("/version").text == "2.0.0"
    else:
        assert "waves.1.steps.0" not in keys and not rest.exists()  # the rest never saw the release
        assert run.outcome.startswith("wave 'line 1' failed its checks")
        assert service.get("/version").text == "1.0.0"
    assert change_state(rt, ref) == ("completed" if outcome == "committed" else "rolled_back")
