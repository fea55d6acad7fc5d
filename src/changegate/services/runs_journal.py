"""The runner's Journal over the database: each call one short transaction, with its audit event.

Every call locks the run row and checks that this worker still holds the lease (renewing it on the way);
``LeaseLost`` otherwise. A ``LeaseKeeper`` renews the lease while a long step runs, so only a worker that
stopped (killed, machine lost) lets its lease expire; and when the lease is lost (taken over) or cannot be
renewed in time, the keeper stops the run's driver at once: the command under way is killed, not left running
beside the next worker's (docs/runner.md, "Durability").
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Callable

from ..core.audit import AuditRecord
from ..core.runs.lease import LeaseTiming
from ..core.runs.machine import CHANGE_ACTION, FINAL, Event, RunState, StepState, next_state
from ..db.models import DeploymentRun, RunStep
from ..db.uow import UnitOfWork
from ..runner.execute import Outcome
from ..runner.journal import LeaseLost, StepRecord
from ..runner.stop import Stop
from .runtime import Runtime

log = logging.getLogger(__name__)

OnEvent = Callable[[str], None]


def audit_run(uow: UnitOfWork, run: DeploymentRun, action: str, now: datetime, detail: dict,
              actor: str | None = None) -> None:
    """A run's events go in its change's history; they carry no snapshot: the change row is untouched."""
    uow.audit.append(AuditRecord(actor=actor or run.actor, action=action, entity=f"change:{run.change_id}",
                                 detail={"run": run.id, **detail}), now)


class DbJournal:
    def __init__(self, rt: Runtime, run_id: int, worker: str, *, on_event: OnEvent | None = None,
                 finish_change: Callable[[UnitOfWork, DeploymentRun], None] | None = None,
                 check_after: float = 0.0, monitor_for: float = 0.0, lease: float | None = None):
        self.rt, self.run_id, self.worker = rt, run_id, worker
        self.check_after = timedelta(seconds=check_after)
        self.monitor_for = timedelta(seconds=monitor_for)
        self.lease_seconds = float(lease if lease is not None else rt.policy.deploy.lease)
        self.on_event = on_event or (lambda line: None)
        self.finish_change = finish_change
        self._records: dict[str, StepRecord] | None = None

    # --- the lease --------------------------------------------------------------------------------

    def _locked(self, uow: UnitOfWork) -> DeploymentRun:
        run = uow.runs.lock(self.run_id)
        if run is None or run.lease_owner != self.worker:
            raise LeaseLost(f"run {self.run_id} is no longer leased to {self.worker}")
        uow.runs.set_lease(run, self.worker, self.rt.clock(), self.lease_seconds, flush=False)
        return run

    def keep_lease(self, stop: Stop, timing: LeaseTiming) -> "LeaseKeeper":
        """Renew the lease every ``timing.renew_every`` until the run rests; set ``stop`` (which kills the
        command under way) as soon as the lease is lost or can no longer be renewed in time."""
        return LeaseKeeper(self, stop, timing)

    def renew(self) -> bool:
        """One renewal; False when another worker holds the run now (or nobody: given back)."""
        with self.rt.uow() as uow:
            return uow.runs.renew(self.run_id, self.worker, self.rt.clock(), self.lease_seconds)

    # --- the protocol -----------------------------------------------------------------------------

    def state(self) -> RunState:
        """A read: the engine asks between steps whether a person moved the run (a rollback)."""
        with self.rt.uow(write=False) as uow:
            run = uow.runs.get(self.run_id)
            if run.lease_owner != self.worker:
                raise LeaseLost(f"run {self.run_id} is no longer leased to {self.worker}")
            return RunState(run.state)

    def record(self, key: str) -> StepRecord | None:
        """From the records read once at the start (only the lease holder writes steps), except a manual
        step waiting for a person, whose confirmation comes from outside: that one is read afresh."""
        if self._records is None:
            with self.rt.uow(write=False) as uow:
                self._records = {s.key: _record(s) for s in uow.runs.steps(self.run_id)}
        cached = self._records.get(key)
        if cached is not None and cached.state == StepState.WAITING:
            with self.rt.uow(write=False) as uow:
                self._records[key] = cached = _record(uow.runs.step(self.run_id, key))
        return cached

    def checks_due_at(self) -> datetime:
        with self.rt.uow(write=False) as uow:
            return uow.runs.get(self.run_id).checks_due_at

    def monitor_until(self) -> datetime:
        with self.rt.uow(write=False) as uow:
            return uow.runs.get(self.run_id).monitor_until

    def note(self, message: str, *, action: str = "run.note", label: str = "note") -> None:
        with self.rt.uow() as uow:
            run = self._locked(uow)
            run.notes = [*run.notes, message if label == "note" else f"{label}: {message}"]
            audit_run(uow, run, action, self.rt.clock(), {"note": message, "worker": self.worker})
        self.on_event(f"{label}: {message}")

    def release(self, message: str) -> None:
        """This worker stops driving the run: say why on it and give the lease back (the step under way stays
        started and not ended: the next holder applies the durable rules)."""
        with self.rt.uow() as uow:
            run = self._locked(uow)
            run.notes = [*run.notes, message]
            run.lease_owner, run.lease_expires = None, None
            audit_run(uow, run, "run.released", self.rt.clock(), {"note": message, "worker": self.worker})
        self.on_event(f"note: {message}")

    def alarm(self, message: str) -> None:
        self.note(message, action="run.alarm", label="ALARM")

    def annotate(self, key: str, detail: dict) -> None:
        with self.rt.uow() as uow:
            self._locked(uow)
            step = uow.runs.step(self.run_id, key)
            step.detail = {**(step.detail or {}), **detail}
            self._remember(step)

    def begin(self, key: str, name: str, description: str, *, waiting: bool = False,
              detail: dict | None = None) -> None:
        now = self.rt.clock()
        with self.rt.uow() as uow:
            run = self._locked(uow)
            step = uow.runs.step(self.run_id, key)
            if step is None:
                step = uow.runs.add_step(RunStep(run_id=run.id, key=key, name=name, description=description,
                                                 state=StepState.RUNNING, attempt=0, output="", detail={},
                                                 worker=self.worker, started_at=now))
            step.attempt += 1
            step.state = StepState.WAITING if waiting else StepState.RUNNING
            step.worker, step.started_at, step.ended_at, step.exit_status = self.worker, now, None, None
            if detail:
                step.detail = {**(step.detail or {}), **detail}
            _phase_start(run, key, now)
            audit_run(uow, run, "run.step_waiting" if waiting else "run.step_started", now,
                      {"step": key, "name": name, "attempt": step.attempt, "worker": self.worker})
            self._remember(step)
        self.on_event(f"{'waiting' if waiting else 'started'} {key} {name}: {description}")

    def finish(self, key: str, outcome: Outcome) -> None:
        now = self.rt.clock()
        with self.rt.uow() as uow:
            run = self._locked(uow)
            step = uow.runs.step(self.run_id, key)
            step.state = StepState.SUCCEEDED if outcome.ok else StepState.FAILED
            step.exit_status, step.output, step.ended_at = outcome.exit_status, outcome.output, now
            step.detail = {**(step.detail or {}), **outcome.detail, "message": outcome.message}
            audit_run(uow, run, f"run.step_{step.state}", now,
                      {"step": key, "attempt": step.attempt, "exit_status": outcome.exit_status,
                       "message": outcome.message, "worker": self.worker})
            self._remember(step)
        self.on_event(f"{'ok' if outcome.ok else 'FAILED'} {key}: {outcome.message}")

    def _remember(self, step: RunStep) -> None:
        if self._records is not None:
            self._records[step.key] = _record(step)

    def move(self, event: Event, message: str = "") -> RunState:
        now = self.rt.clock()
        with self.rt.uow() as uow:
            run = self._locked(uow)
            before = RunState(run.state)
            if before is RunState.ROLLING_BACK and event not in (Event.ROLLED_BACK, Event.ROLLBACK_FAILED,
                                                                 Event.WORKER_GAVE_UP):
                return before  # a person's rollback came first (during a step or a check): it stands
            target = next_state(before, event)
            run.state = target.value
            _figures(run, event, target, now, self.rt.policy.deploy.rollback_limit)
            if event is Event.DEPLOYED:
                run.checks_due_at = now + self.check_after
            if event is Event.MONITOR:
                run.monitor_until = now + self.monitor_for
            if message:
                run.outcome = message
            if target in FINAL or target is RunState.PAUSED:
                run.lease_owner, run.lease_expires = None, None  # rests: nobody drives it until a person acts
            audit_run(uow, run, f"run.{target.value}", now,
                      {"from": before.value, "event": event.value, "message": message, "worker": self.worker})
            if target in CHANGE_ACTION and self.finish_change is not None:
                self.finish_change(uow, run)
        self.on_event(f"run {before.value} -> {target.value}" + (f": {message}" if message else ""))
        return target


class LeaseKeeper:
    """Two daemon threads: one renews the lease every ``renew_every``; the other watches the deadline (the
    monotonic instant the last renewal's attempt began, plus the lease) and sets ``stop`` when less than
    ``stop_margin`` is left, even while a renewal still waits for the database. A renewal that finds the lease
    held by another worker (or given back) sets ``stop`` at once."""

    def __init__(self, journal: DbJournal, stop: Stop, timing: LeaseTiming):
        self.journal, self.stop, self.timing = journal, stop, timing
        began = time.monotonic()  # a renewal first: the deadline counts from an instant known here
        if not journal.renew():
            raise LeaseLost(f"run {journal.run_id} is no longer leased to {journal.worker}")
        self.deadline = began + timing.lease
        self._done = threading.Event()
        self.threads = [threading.Thread(target=self._guard, args=(fn,), daemon=True,
                                         name=f"lease-{what}-{journal.run_id}")
                        for what, fn in (("renew", self._renew_loop), ("watch", self._watch_loop))]
        for t in self.threads:
            t.start()

    def close(self) -> None:
        self._done.set()

    def _guard(self, loop: Callable[[], None]) -> None:
        """A keeper thread that dies of a bug must not leave the run unwatched: stop the driver instead."""
        try:
            loop()
        except BaseException as exc:  # noqa: BLE001 - whatever killed the thread
            log.error("the lease keeper of run %s failed; stopping its driver", self.journal.run_id, exc_info=True)
            self.stop.set(f"the lease keeper failed: {type(exc).__name__}: {exc}")

    def _renew_loop(self) -> None:
        pause = self.timing.renew_every
        while not self._done.wait(pause):
            began = time.monotonic()
            try:
                held = self.journal.renew()
            except Exception:  # noqa: BLE001 - a busy or lost database: the watch stops the run if it lasts
                log.warning("could not renew the lease of run %s; trying again", self.journal.run_id, exc_info=True)
                pause = min(1.0, self.timing.renew_every / 4)  # soon: the lease runs out meanwhile
                continue
            pause = self.timing.renew_every
            if not held:
                self.stop.set(f"the lease of run {self.journal.run_id} was lost (another worker holds it, or a "
                              "person ended the run)")
                return
            self.deadline = max(self.deadline, began + self.timing.lease)

    def _watch_loop(self) -> None:
        while not self._done.is_set():
            left = self.deadline - self.timing.stop_margin - time.monotonic()
            if left <= 0:
                self.stop.set(f"the lease of run {self.journal.run_id} could not be renewed in time")
                return
            self._done.wait(min(left, 0.25))


def _record(step: RunStep) -> StepRecord:
    return StepRecord(step.key, StepState(step.state), step.attempt, dict(step.detail or {}))


def _phase_start(run: DeploymentRun, key: str, now: datetime) -> None:
    if key.startswith(("steps.", "waves.")) and run.deploy_started_at is None:
        run.deploy_started_at = now
    if key.startswith("rollback.") and run.rollback_started_at is None:
        run.rollback_started_at = now  # the rollback starts with its first command


def _figures(run: DeploymentRun, event: Event, target: RunState, now: datetime, limit_seconds: float) -> None:
    """What the run measures, fixed by the event that settles each figure."""
    if event is Event.DEPLOYED:
        run.deploy_ended_at = now
    if event in (Event.CHECK_FAILED, Event.CHECK_FAILED_PAUSE):
        run.check_failed_at = now
    if target is RunState.ROLLING_BACK and run.deploy_ended_at is None and run.deploy_started_at is not None:
        run.deploy_ended_at = now
    if event in (Event.ROLLED_BACK, Event.ROLLBACK_FAILED):
        run.rollback_ended_at = now
        started = run.rollback_started_at or now
        run.rollback_over_limit = (now - started).total_seconds() > limit_seconds
    if target in FINAL:
        run.ended_at = now
        run.downtime_seconds = downtime(run)


def downtime(run: DeploymentRun) -> float | None:
    """The deployment window (first deploy step to last) plus the rollback, in seconds: the time the system
    was being changed. An upper bound of the outage; None when nothing was changed."""
    if run.deploy_started_at is None:
        return None
    seconds = ((run.deploy_ended_at or run.ended_at) - run.deploy_started_at).total_seconds()
    if run.rollback_started_at is not None and run.rollback_ended_at is not None:
        seconds += (run.rollback_ended_at - run.rollback_started_at).total_seconds()
    return seconds
