"""A worker's side of deployment runs: who drives which run (the lease), and what happens when driving
raises. The job engine (changegate.jobs) only says *when* to look for work; the lease on the run's row
decides *who* drives it, so a job delivered twice, retried, or left behind by a killed worker never makes a
run execute twice (docs/runner.md, "Workers").
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

from ..core.runs.lease import LeaseTiming
from ..core.runs.machine import ACTIVE, UNFINISHED, Event, RunState
from ..runner.stop import Stop
from . import runs
from .runs_journal import DbJournal, OnEvent, audit_run
from .runs_plan import lease_for
from .runtime import Runtime

IDLE_POLL_SECONDS = 0.5
# A run whose driving raised this many times (in any workers) ends failed with an alarm instead of being
# taken up again and again: an error that is not the run's own outcome (a bug, a plan the code cannot
# read any more, a database that refuses a write) does not go away by retrying.
MAX_WORKER_ERRORS = 3


def worker_id() -> str:
    """Unique per process and drive: host, process id and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def timing(rt: Runtime) -> LeaseTiming:
    """The policy's ``deploy.lease`` checked against this database's writer wait (``runs_plan.lease_for``)."""
    return lease_for(rt.policy, rt.engine.dialect.name)


# --- the runs this process drives: stopped together when the worker stops -------------------------

_driving: dict[int, tuple[Runtime, Stop]] = {}
_driving_lock = threading.Lock()


def driving(rt: Runtime, run_id: int, stop: Stop) -> None:
    with _driving_lock:
        _driving[run_id] = (rt, stop)


def done_driving(run_id: int, stop: Stop) -> None:
    with _driving_lock:
        if run_id in _driving and _driving[run_id][1] is stop:
            del _driving[run_id]


def stop_driving(reason: str = "the worker is stopping", rt: Runtime | None = None) -> list[int]:
    """Stop every run this process drives (a worker stopping: ``changegate serve``'s, a procrastinate
    worker): each command under way is killed (SIGTERM, then SIGKILL), nothing is recorded as ended, and the
    lease is given back, so the next worker takes each run over at once by the durable rules (an interrupted
    step is run again when idempotent, otherwise the run rolls back). ``rt``: only the runs driven on that
    runtime (one worker of several in a process). Returns the runs stopped."""
    with _driving_lock:
        stops = [(run_id, stop) for run_id, (on, stop) in _driving.items() if rt is None or on is rt]
    threads = [threading.Thread(target=stop.set, args=(reason,), daemon=True) for _, stop in stops]
    for t in threads:  # in parallel: each may wait its kill grace
        t.start()
    for t in threads:
        t.join()
    return [run_id for run_id, _ in stops]


def claim(rt: Runtime, worker: str, run_id: int | None = None) -> int | None:
    """Lease a run that needs a worker (queued, or whose worker stopped renewing) to ``worker``: the oldest
    one, or exactly ``run_id``. None if there is none (or ``run_id`` is driven, resting or ended)."""
    lease = timing(rt).lease
    now = rt.clock()
    states = [s.value for s in ACTIVE]
    with rt.uow() as uow:
        if run_id is None:
            run = uow.runs.claim_next(states, worker, now, lease)
        else:
            run = uow.dispatch.claim(run_id, states, worker, now, lease)
        if run is None:
            return None
        audit_run(uow, run, "run.claimed", now, {"worker": worker, "state": run.state})
        if run.state != RunState.QUEUED.value:
            run.notes = [*run.notes, f"taken over by {worker} at {now.isoformat()} in state {run.state}"]
        return run.id


def needing_worker(rt: Runtime) -> list[int]:
    """The runs no live worker holds that a worker should drive (the job engine's sweep re-dispatches them)."""
    with rt.uow(write=False) as uow:
        return uow.dispatch.needing_worker([s.value for s in ACTIVE], rt.clock())


def drive_claimed(rt: Runtime, run_id: int, worker: str, *, on_event: OnEvent | None = None) -> RunState | None:
    """Drive a run leased to ``worker``; the state it rests in. An unexpected error is counted on the run and
    the lease given back at once (None), so another attempt (any worker) takes it up; at ``MAX_WORKER_ERRORS``
    the run ends failed."""
    try:
        return runs.drive(rt, run_id, worker, on_event=on_event)
    except Exception as exc:  # noqa: BLE001 - whatever it was, the run must not be retried for ever
        return _count_error(rt, run_id, worker, exc, on_event)


def _count_error(rt: Runtime, run_id: int, worker: str, exc: Exception, on_event: OnEvent | None) -> RunState | None:
    error = f"{type(exc).__name__}: {exc}"[:1000]
    try:
        with rt.uow() as uow:
            run = uow.runs.lock(run_id)
            if run is None or run.lease_owner != worker:
                return None  # taken over meanwhile: the new holder decides
            run.worker_errors += 1
            errors = run.worker_errors
            audit_run(uow, run, "run.worker_error", rt.clock(),
                      {"worker": worker, "error": error, "errors": errors, "limit": MAX_WORKER_ERRORS})
            if errors < MAX_WORKER_ERRORS:
                run.lease_owner, run.lease_expires = None, None  # free at once: the next attempt need not wait
                return None
    except Exception:  # noqa: BLE001 - the database may be what failed: the lease then expires by itself
        return None
    return _give_up(rt, run_id, worker, error, on_event)


def _give_up(rt: Runtime, run_id: int, worker: str, error: str, on_event: OnEvent | None) -> RunState | None:
    """The alarm: the run ends failed (the change follows it), saying it stopped half-way and why."""
    message = (f"ALARM: driving this run raised {MAX_WORKER_ERRORS} times, so no worker takes it up again; it "
               f"stopped where it stood and may have left the system half-changed: check it and roll back by "
               f"hand if needed. Last error: {error}")
    journal = DbJournal(rt, run_id, worker, on_event=on_event,
                        finish_change=lambda uow, run: runs._finish_change(rt, uow, run))
    try:
        return journal.move(Event.WORKER_GAVE_UP, message)
    except Exception:  # noqa: BLE001 - lost lease or database: the lease expires and the next attempt gives up
        return None


def work(rt: Runtime, worker: str, *, max_runs: int | None = None, idle_exit: bool = False,
         on_event: OnEvent | None = None, stop: threading.Event | None = None,
         wake: threading.Event | None = None) -> int:
    """The in-house loop (SQLite's engine, and ``changegate worker`` there): claim, drive, repeat. Returns how
    many runs it drove. ``stop`` ends it between runs; ``wake`` cuts an idle wait short (a run was queued)."""
    stop = stop or threading.Event()
    driven = 0
    while not stop.is_set() and (max_runs is None or driven < max_runs):
        run_id = claim(rt, worker)
        if run_id is None:
            if idle_exit:
                return driven
            if wake is not None:
                wake.wait(IDLE_POLL_SECONDS)
                wake.clear()
            else:
                stop.wait(IDLE_POLL_SECONDS)
            continue
        if drive_claimed(rt, run_id, worker, on_event=on_event) is not None:
            driven += 1  # None: given back after an error, taken up again by a later claim
    return driven


def lease_to(rt: Runtime, run_id: int, worker: str) -> bool:
    """Lease a resting run to ``worker`` (the CLI driving a person's rollback itself) unless somebody holds a
    live lease on it."""
    lease = timing(rt).lease
    with rt.uow() as uow:
        return uow.runs.lease_if_free(run_id, [s.value for s in UNFINISHED], worker, rt.clock(), lease) is not None
