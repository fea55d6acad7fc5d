"""The guards that keep a worker alive through a database error, with a real fault: another connection holds
SQLite's write lock longer than the writer wait (2 s in these tests), so the worker's writes fail with "the
database is busy" until it lets go. SQLite only: the fault is its single writer lock."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone

import pytest
from sqlalchemy.engine import make_url

from changegate.jobs.inhouse import InHouseEngine
from changegate.services import runs, runs_worker

from test_runs_stop import _alive, _drive_in_thread, _queue, _run, _step, _wait

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class WriteLock:
    """Another connection's write transaction (BEGIN IMMEDIATE) on the same file, held until released."""

    def __init__(self, database_url: str):
        self.conn = sqlite3.connect(make_url(database_url).database, isolation_level=None, timeout=30)

    def __enter__(self) -> "WriteLock":
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def _warned(caplog, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)


@SQLITE
def test_the_lease_keeper_survives_a_failed_renewal_and_keeps_the_run(rt, database_url, tmp_path, caplog):
    """Lease 20 s (a renewal every 6.7 s, a stop when 3.3 s are left): one renewal fails on the held lock, the
    keeper tries again as soon as the lock is free, and the run goes on under the same worker."""
    long_lease = tmp_path / "policy.yaml"
    long_lease.write_text(rt.settings.policy.read_text().replace("lease: 5s", "lease: 20s"))
    from changegate.services.policy import load_policy

    rt.policy = load_policy(long_lease)
    caplog.set_level(logging.WARNING, logger="changegate.services.runs_journal")
    go = tmp_path / "go"
    ref, run_id = _queue(rt, f"steps: [{{name: long, shell: 'until [ -f {go} ]; do sleep 0.05; done'}}]\n")
    thread, result = _drive_in_thread(rt, run_id, "worker")
    _wait(lambda: _step(rt, run_id) is not None, "the step starts")
    with WriteLock(database_url):
        _wait(lambda: _warned(caplog, f"could not renew the lease of run {run_id}"), "a renewal fails", timeout=30)
    go.touch()
    thread.join(60)
    assert result["state"].value == "committed"
    run = _run(rt, run_id)
    assert not any("taken over" in n or "stopped driving" in n for n in run.notes), run.notes
    assert _step(rt, run_id).attempt == 1


@SQLITE
def test_a_worker_thread_of_serve_survives_a_database_error_and_drives_the_next_run(rt, database_url, tmp_path,
                                                                                    caplog):
    caplog.set_level(logging.WARNING, logger="changegate.jobs.inhouse")
    pool = InHouseEngine(rt).start_background(concurrency=1)
    try:
        with WriteLock(database_url):  # its claims fail on the held lock
            _wait(lambda: _warned(caplog, "taking work failed; trying again"), "a claim fails", timeout=30)
        assert all(t.is_alive() for t in pool.threads)
        ref, run_id = _queue(rt, f"steps: [{{name: touch, shell: 'touch {tmp_path}/done'}}]\n")
        _wait(lambda: _run(rt, run_id).state == "committed", "the same thread drives the next run")
        assert (tmp_path / "done").exists()
    finally:
        pool.stop()
        pool.join()


@SQLITE
def test_a_lease_that_cannot_be_renewed_in_time_stops_the_command_before_anybody_may_take_over(rt, database_url,
                                                                                               tmp_path):
    """The lock held past the lease: every renewal fails; the worker kills its command when a sixth of the
    lease is left, before the lease expires, and records nothing."""
    pidfile = tmp_path / "pid"
    ref, run_id = _queue(rt, f"steps: [{{name: long, shell: 'sleep 120 & echo $! > {pidfile}; wait'}}]\n")
    thread, result = _drive_in_thread(rt, run_id, "worker")
    pid = int(_wait(lambda: pidfile.exists() and pidfile.read_text().strip(), "the pid"))
    with WriteLock(database_url):  # reads go on (WAL); every write waits 2 s and fails
        _wait(lambda: not _alive(pid), "the worker kills its command", timeout=30)
        dead_at = datetime.now(timezone.utc)
        expires = _run(rt, run_id).lease_expires
        assert dead_at < expires  # gone before anybody could take the run over
        thread.join(30)
        assert not thread.is_alive()
    run = _run(rt, run_id)  # nothing recorded by the stopped worker
    assert _step(rt, run_id).ended_at is None and run.state == "deploying"


@SQLITE
def test_a_run_whose_lease_keeper_cannot_start_is_not_left_listed_as_driven(rt, tmp_path, monkeypatch):
    """The keeper's thread may fail to start (the process is out of threads): the error surfaces, and the run
    is no longer listed as driven here, so a later stop of this worker does not claim to have stopped it."""
    from changegate.services.runs_journal import DbJournal

    def no_thread(self, stop, timing):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(DbJournal, "keep_lease", no_thread)
    ref, run_id = _queue(rt, "steps: [{name: a, shell: 'true'}]\n")
    assert runs_worker.claim(rt, "worker", run_id) == run_id
    with pytest.raises(RuntimeError, match="new thread"):
        runs.drive(rt, run_id, "worker")
    assert run_id not in runs_worker.stop_driving("test", rt)
