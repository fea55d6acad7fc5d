"""Leases and clocks. On PostgreSQL a lease is measured by the database's clock, so workers on machines whose
clocks disagree neither steal a live lease nor hold a dead one: tested with workers whose injected clocks run
an hour ahead and an hour behind. SQLite is one file on one machine: its workers share that machine's clock.
And the lease's length is checked against the database's writer wait (core/runs/lease.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from changegate.core.errors import PolicyError
from changegate.core.runs.lease import lease_timing
from changegate.db.engine import make_engine
from changegate.schemas.runs import DeployIn, PlanIn
from changegate.services import runs, runs_worker
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import Settings

from runner_support import scheduled_dev_change


def _skewed(database_url, policy_file, hours: float) -> Runtime:
    return Runtime(Settings(database_url=database_url, policy=policy_file), make_engine(database_url),
                   load_policy(policy_file), lambda: datetime.now(timezone.utc) + timedelta(hours=hours))


def test_a_worker_whose_clock_runs_ahead_does_not_steal_a_live_lease(rt, database_url, policy_file):
    ref = scheduled_dev_change(rt, "true")
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref,
                              DeployIn(environment="dev", plan=PlanIn(text="steps: [{name: a, shell: 'true'}]\n")))
    behind, ahead = _skewed(database_url, policy_file, -1), _skewed(database_url, policy_file, +1)
    try:
        assert runs_worker.claim(behind, "behind", run.id) == run.id  # its lease: 5 s from now
        with rt.uow(write=False) as uow:
            expires = uow.runs.get(run.id).lease_expires
        if database_url.startswith("postgresql"):  # by the database's clock, whatever the worker's says
            assert abs((expires - datetime.now(timezone.utc)).total_seconds() - 5) < 60
            assert runs_worker.claim(ahead, "ahead", run.id) is None
            assert runs_worker.claim(ahead, "ahead") is None and run.id not in runs_worker.needing_worker(ahead)
            assert runs_worker.lease_to(ahead, run.id, "ahead") is False
        else:  # one machine, one clock: a worker's clock is the clock, and one an hour ahead sees it expired
            assert expires < datetime.now(timezone.utc)
            assert runs_worker.claim(ahead, "ahead", run.id) == run.id
        with rt.uow(write=False) as uow:
            holder = uow.runs.get(run.id).lease_owner
        assert holder == ("behind" if database_url.startswith("postgresql") else "ahead")
    finally:
        behind.close()
        ahead.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite: one machine, one clock
def test_the_renewal_of_a_worker_whose_clock_runs_behind_keeps_its_lease_alive(rt, database_url, policy_file):
    """PostgreSQL: a renewal sets the expiry by the database's clock; a worker an hour behind would otherwise
    write an expiry an hour in the past, and any other worker would take its live run."""
    ref = scheduled_dev_change(rt, "true")
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref,
                              DeployIn(environment="dev", plan=PlanIn(text="steps: [{name: a, shell: 'true'}]\n")))
    behind = _skewed(database_url, policy_file, -1)
    try:
        assert runs_worker.claim(rt, "on-time", run.id) == run.id
        with rt.uow() as uow:  # hand it to the late worker, as a takeover would
            uow.runs.set_lease(uow.runs.lock(run.id), "behind", behind.clock(), 5)
        with behind.uow() as uow:
            assert uow.runs.renew(run.id, "behind", behind.clock(), 5)
        assert runs_worker.claim(rt, "on-time", run.id) is None  # still live by the database's clock
    finally:
        behind.close()


def test_a_lease_shorter_than_the_writer_wait_allows_is_a_configuration_error(rt, database_url, tmp_path):
    """The lease must outlast a renewal that waits for the writer (SQLite: WRITER_WAIT_SECONDS, 2 s in these
    tests) plus the renewal interval plus the stop margin; otherwise the run is refused before anything runs."""
    assert lease_timing(90, 30).renew_every == 30 and lease_timing(90, 30).stop_margin == 15
    with pytest.raises(PolicyError) as err:
        lease_timing(30, 30)  # the old default on SQLite: a worker waiting 30 s for the writer lost its run
    assert "deploy.lease is 30 s, too short" in err.value.message and "more than 60 s" in err.value.message
    short = tmp_path / "short.yaml"
    short.write_text(rt.settings.policy.read_text().replace("lease: 5s", "lease: 3s"))
    quick = Runtime(Settings(database_url=database_url, policy=short), make_engine(database_url), load_policy(short))
    try:
        ref = scheduled_dev_change(rt, "true")
        body = DeployIn(environment="dev", plan=PlanIn(text="steps: [{name: a, shell: 'true'}]\n"))
        if database_url.startswith("sqlite"):  # 3 s is not more than twice the 2 s writer wait
            with pytest.raises(PolicyError, match="deploy.lease is 3 s, too short"):
                with quick.uow() as uow:
                    runs.create_run(uow, quick.context("rene.release"), ref, body, worker="w")
            assert _state(rt, ref) == "scheduled"  # nothing half-done
            with pytest.raises(PolicyError):
                runs_worker.claim(quick, "w")
        else:  # PostgreSQL: a renewal waits only for the run row's lock
            with quick.uow() as uow:
                assert runs.create_run(uow, quick.context("rene.release"), ref, body).state == "queued"
    finally:
        quick.close()


def _state(rt, ref) -> str:
    from changegate.services.lookup import load

    with rt.uow(write=False) as uow:
        return load(uow, ref).state


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worker_refuses_to_start_with_a_lease_too_short_for_its_database(database_url, policy_file, tmp_path):
    import os
    import subprocess
    import sys

    short = tmp_path / "short.yaml"
    short.write_text(policy_file.read_text().replace("lease: 5s", "lease: 3s"))
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": database_url, "CHANGEGATE_POLICY": str(short)}
    done = subprocess.run([sys.executable, "-m", "changegate.cli.main", "worker", "--exit-when-idle"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error: deploy.lease is 3 s, too short" in done.stderr and "Traceback" not in done.stderr
