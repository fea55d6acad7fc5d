"""Driving a plan through the run's states (core/runs/machine.py) against a Journal.

The engine is re-entrant: it reads where the run stands from the journal and carries on from there, so a
worker that takes over a run after another died runs exactly this code. A step recorded as succeeded is
never run again; a step recorded as started but not ended was interrupted: it is run again when it is
declared idempotent (and for checks and rollback steps, which must reach an end), otherwise the run rolls back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from ..core.runs.decide import decide
from ..core.runs.machine import FINAL, STEP_ENDED, Event, RunState, StepState
from ..core.runs.plan import OnFailure, OnMonitorFailure, OnTimeout, Plan, Step
from .execute import Outcome, run_action, sample
from .journal import Journal
from .stop import NEVER, Stop

POLL_SECONDS = 0.2  # how often a waiting run looks at its record (a person's rollback, a confirmation)


@dataclass(frozen=True)
class Settings:
    """What the run takes from outside the plan: policy defaults already applied, the change's rollback."""

    check_after: float
    threshold: float
    on_failure: OnFailure
    rollback_script: str = ""
    rollback_interpreter: str = "sh"
    # A rollback rehearsal: deploy, roll back at once, then the smoke checks must pass on the rolled-back system.
    rehearsal: bool = False
    # Early-life monitoring after the checks at T+N passed: a round of every check each ``monitor_every``
    # seconds for ``monitor_for`` seconds (0: none), and what a failed round does.
    monitor_for: float = 0.0
    monitor_every: float = 60.0
    on_monitor_failure: OnMonitorFailure = OnMonitorFailure.ROLLBACK


class _Interrupted(Exception):
    def __init__(self, key: str):
        self.key = key


class _TimedOutPause(Exception):
    """A manual step was not confirmed in time and its plan says pause (``on_timeout: pause``)."""

    def __init__(self, message: str):
        self.message = message


class Engine:
    def __init__(self, plan: Plan, settings: Settings, journal: Journal, *, stop: Stop = NEVER,
                 sleep: Callable[[float], None] | None = None, now: Callable[[], datetime] | None = None):
        """``stop``: set when this worker must stop driving (lost lease, the worker stops): the command under
        way is killed and ``Stopped`` raised, with nothing recorded as ended."""
        self.plan, self.settings, self.journal, self.stop = plan, settings, journal, stop
        self.sleep = sleep or stop.sleep
        self.now = now or (lambda: datetime.now(timezone.utc))

    def drive(self) -> RunState:
        """Run until the run is final or paused for a person; returns that state."""
        state = self.journal.state()
        while state not in FINAL and state is not RunState.PAUSED:
            state = self._phase(state)
        return state

    def _phase(self, state: RunState) -> RunState:
        match state:
            case RunState.QUEUED:
                return self.journal.move(Event.START)
            case RunState.PROTECTING:
                return self._protect()
            case RunState.DEPLOYING:
                return self._deploy()
            case RunState.WAITING:
                return self._wait()
            case RunState.CHECKING:
                return self._check()
            case RunState.MONITORING:
                return self._monitor()
            case RunState.ROLLING_BACK:
                return self._roll_back()
        raise AssertionError(f"no phase for {state}")

    # --- phases -------------------------------------------------------------------------------------

    def _protect(self) -> RunState:
        for i, step in enumerate(self.plan.protect):
            if not self._ensure(f"protect.{i}", step, rerun=True):  # protect changes nothing: safe to repeat
                return self.journal.move(Event.PROTECT_FAILED, f"protect step {step.name!r} failed: nothing was "
                                         "changed")
        for check in _baselined(self.plan, self.settings):
            key = f"baseline.{check.name}"
            if self._done(key):
                continue
            self.journal.begin(key, check.name, f"baseline: {check.samples} samples of {check.describe()}")
            got = sample(check, self.plan.default_timeout, self.stop)
            self.journal.finish(key, got)
            if not got.ok:
                return self.journal.move(Event.PROTECT_FAILED, f"the baseline of {check.name!r} could not be "
                                         f"sampled ({got.message}): nothing was changed")
        return self.journal.move(Event.PROTECTED)

    def _deploy(self) -> RunState:
        for prefix, steps, wave in self._parts():
            state = self._deploy_part(prefix, steps)
            if state is not None:
                return state
            if wave is not None:
                failed = self._wave_checks(prefix.removesuffix(".steps"), wave)
                if failed:
                    return self._move_unless_moved(RunState.DEPLOYING, Event.STEP_FAILED, failed)
        if self.settings.rehearsal:
            return self.journal.move(Event.REHEARSED, "deployed for the rehearsal: rolling back")
        return self.journal.move(Event.DEPLOYED)

    def _parts(self) -> list[tuple[str, tuple[Step, ...], object]]:
        if self.plan.waves:
            return [(f"waves.{w}.steps", wave.steps, wave) for w, wave in enumerate(self.plan.waves)]
        return [("steps", self.plan.steps, None)]

    def _wave_checks(self, prefix: str, wave) -> str | None:
        """The wave's smoke checks after its wait; the failure as a sentence, or None."""
        if all(self._done(f"{prefix}.checks.{c.name}") for c in wave.checks):
            return None
        self.sleep(wave.check_after)
        failures = []
        for check in wave.checks:
            key = f"{prefix}.checks.{check.name}"
            if not self._done(key):
                self.journal.begin(key, check.name, f"wave {wave.name} smoke: {check.describe()}")
                got = run_action(check, self.plan.default_timeout, self.stop)
                self.journal.finish(key, got)
                if not got.ok:
                    failures.append(f"smoke check {check.name!r}: {got.message}")
        return f"wave {wave.name!r} failed its checks: {'; '.join(failures)}" if failures else None

    def _deploy_part(self, prefix: str, steps: tuple[Step, ...]) -> RunState | None:
        for i, step in enumerate(steps):
            key = f"{prefix}.{i}"
            try:
                ok = self._ensure(key, step, rerun=step.idempotent)
            except _TimedOutPause as paused:
                return self._move_unless_moved(RunState.DEPLOYING, Event.TIMED_OUT_PAUSE, paused.message)
            except _Interrupted:
                self.journal.finish(key, Outcome(False, None, "", "interrupted: the worker running it "
                                                 "stopped; not idempotent, so not run again"))
                self.journal.note(f"step {step.name!r} was interrupted by a worker that stopped and is not "
                                  "declared idempotent: rolling back")
                return self._move_unless_moved(RunState.DEPLOYING, Event.INTERRUPTED,
                                               f"step {step.name!r} was interrupted")
            if not ok:
                return self._move_unless_moved(RunState.DEPLOYING, Event.STEP_FAILED, f"step {step.name!r} failed")
            if self.journal.state() is not RunState.DEPLOYING:  # a person asked for a rollback meanwhile
                return self.journal.state()
        return None

    def _wait(self) -> RunState:
        state = self._wait_until(self.journal.checks_due_at(), RunState.WAITING)
        return self.journal.move(Event.DUE) if state is RunState.WAITING else state

    def _wait_until(self, due: datetime, expected: RunState) -> RunState:
        """Sleep until ``due`` unless a person moves the run meanwhile; the state then."""
        while True:
            state = self.journal.state()
            if state is not expected:
                return state
            left = (due - self.now()).total_seconds()
            if left <= 0:
                return state
            self.sleep(min(left, POLL_SECONDS * 5))

    def _check(self) -> RunState:
        failures = self._round("checks")
        if not failures:
            if self.settings.monitor_for > 0:  # cleanup waits for monitoring's end: its checks still run
                return self.journal.move(Event.MONITOR, "every check passed: committed; early-life monitoring "
                                         f"for {self.settings.monitor_for:g} s")
            self._cleanup()
            return self.journal.move(Event.PASSED, "every check passed")
        message = "; ".join(failures)
        if self.settings.on_failure is OnFailure.PAUSE:
            return self.journal.move(Event.CHECK_FAILED_PAUSE, message)
        return self.journal.move(Event.CHECK_FAILED, message)

    def _round(self, prefix: str) -> list[str]:
        """Every smoke check, then every performance check against the baseline; the failures as sentences."""
        failures = self._smoke(f"{prefix}.smoke")
        for check in self.plan.checks.performance:
            failed = self._performance(check, f"{prefix}.performance.{check.name}")
            if failed:
                failures.append(failed)
        return failures

    def _monitor(self) -> RunState:
        """Early-life monitoring: a round of every check each ``monitor_every`` until ``monitor_until``. Each
        round's steps are keyed by its number, so a takeover carries on with the first unfinished round."""
        until = self.journal.monitor_until()
        start = until - timedelta(seconds=self.settings.monitor_for)
        every, rounds = monitor_rounds(self.settings)
        for n in range(1, rounds + 1):  # the last round at monitor_until: none is skipped, monitoring never ends early
            state = self._wait_until(min(start + timedelta(seconds=n * every), until), RunState.MONITORING)
            if state is not RunState.MONITORING:
                return state  # a person's rollback
            failures = self._round(f"monitor.{n}")
            if not failures:
                continue
            message = f"early-life monitoring, round {n} of {rounds}: {'; '.join(failures)}"
            match self.settings.on_monitor_failure:
                case OnMonitorFailure.ALARM:
                    self.journal.alarm(message)  # recorded and audited; the deployment stands, monitoring goes on
                case OnMonitorFailure.PAUSE:
                    return self._move_unless_moved(RunState.MONITORING, Event.CHECK_FAILED_PAUSE, message)
                case _:
                    return self._move_unless_moved(RunState.MONITORING, Event.CHECK_FAILED, message)
        self._cleanup()
        return self._move_unless_moved(RunState.MONITORING, Event.MONITORED,
                                       f"every check passed, and {rounds} round(s) of early-life monitoring")

    def _smoke(self, prefix: str) -> list[str]:
        failures = []
        for check in self.plan.checks.smoke:
            key = f"{prefix}.{check.name}"
            if not self._done(key):
                self.journal.begin(key, check.name, f"smoke: {check.describe()}")
                got = run_action(check, self.plan.default_timeout, self.stop)
                self.journal.finish(key, got)
                if not got.ok:
                    failures.append(f"smoke check {check.name!r}: {got.message}")
        return failures

    def _performance(self, check, key: str) -> str | None:
        record = self.journal.record(key)
        if record is not None and record.state == StepState.SUCCEEDED:
            return None
        baseline = self.journal.record(f"baseline.{check.name}")
        self.journal.begin(key, check.name, f"performance: {check.samples} samples of {check.describe()}")
        got = sample(check, self.plan.default_timeout, self.stop)
        if got.ok:
            verdict = decide(baseline.detail["samples"], got.detail["samples"], worse=check.worse,
                             threshold=check.threshold or self.settings.threshold, min_change=check.min_change)
            got = Outcome(verdict.passed, 0, "", verdict.message, {**got.detail, "verdict": verdict.to_dict()})
        self.journal.finish(key, got)
        return None if got.ok else f"performance check {check.name!r}: {got.message}"

    def _roll_back(self) -> RunState:
        for key, step in self._rollback_steps():
            if not self._ensure(key, step, rerun=True):  # a rollback must reach an end: an interrupted one reruns
                self._cleanup()
                return self.journal.move(Event.ROLLBACK_FAILED, f"rollback step {step.name!r} failed: the system "
                                         "is NOT back on its known-good state")
        self._cleanup()
        if self.settings.rehearsal:
            failed = self._smoke("rehearsal.checks.smoke")
            if failed:
                return self.journal.move(Event.ROLLBACK_FAILED, "the rollback ran, but afterwards "
                                         + "; ".join(failed))
        return self.journal.move(Event.ROLLED_BACK)

    def _rollback_steps(self) -> list[tuple[str, Step]]:
        steps = []
        if self.plan.rollback.change_script and self.settings.rollback_script.strip():
            steps.append(("rollback.change_script", change_script_step(self.plan, self.settings)))
        steps += [(f"rollback.steps.{i}", s) for i, s in enumerate(self.plan.rollback.steps)]
        return steps

    def _cleanup(self) -> None:
        for i, step in enumerate(self.plan.cleanup):
            self._ensure(f"cleanup.{i}", step, rerun=True)  # a failed cleanup is recorded; it decides nothing

    # --- steps --------------------------------------------------------------------------------------

    def _done(self, key: str) -> bool:
        record = self.journal.record(key)
        return record is not None and record.state == StepState.SUCCEEDED

    def _ensure(self, key: str, step: Step, *, rerun: bool) -> bool:
        """Run ``step`` unless it already succeeded; False when it failed."""
        self.stop.check()
        record = self.journal.record(key)
        if record is not None:
            if record.state == StepState.SUCCEEDED:
                return True
            if record.state == StepState.FAILED:
                return False
            if not rerun and step.manual is None:  # started, never ended: the worker running it died
                raise _Interrupted(key)
        if step.manual is not None:
            return self._manual(key, step, record)
        self.journal.begin(key, step.name, step.describe())
        got = run_action(step, self.plan.default_timeout, self.stop)
        self.journal.finish(key, got)
        return got.ok

    def _manual(self, key: str, step: Step, record) -> bool:
        """Wait for a holder of the step's role to confirm it (services/runs.py: confirm_step) until its
        deadline, which is stored with the step: a takeover, or a run resumed after a pause, keeps it."""
        timeout = step.timeout or self.plan.default_timeout
        if record is None:
            deadline = self.now() + timedelta(seconds=timeout)
            self.journal.begin(key, step.name, step.describe(), waiting=True, detail={"deadline": deadline.isoformat()})
        expected = self.journal.state()
        while True:
            record = self.journal.record(key)
            if record.state in STEP_ENDED:
                return record.state == StepState.SUCCEEDED
            if self.journal.state() is not expected:  # a person rolled back meanwhile
                self.journal.finish(key, Outcome(False, None, "", "no longer awaited: the run moved on"))
                return False
            deadline = datetime.fromisoformat(record.detail["deadline"])
            if self.now() >= deadline:
                break
            self.sleep(min(POLL_SECONDS, max(0.0, (deadline - self.now()).total_seconds())))
        message = f"not confirmed within {timeout:g} s"
        if step.on_timeout is OnTimeout.PAUSE and not record.detail.get("timed_out"):
            self.journal.annotate(key, {"timed_out": True, "message": f"{message}: paused for a person"})
            raise _TimedOutPause(f"manual step {step.name!r} {message}: paused; confirm it (changegate run "
                                 "confirm) to carry on, or roll back")
        self.journal.finish(key, Outcome(False, None, "", message))
        return False

    def _move_unless_moved(self, expected: RunState, event: Event, message: str) -> RunState:
        state = self.journal.state()
        return self.journal.move(event, message) if state is expected else state


def monitor_rounds(settings: Settings) -> tuple[float, int]:
    """The interval between rounds of early-life monitoring and their number: a round each ``monitor_every``,
    and a last one at the end of ``monitor_for`` when that is not a multiple of the interval (rounded up)."""
    every = min(settings.monitor_every, settings.monitor_for)
    return every, max(1, math.ceil(round(settings.monitor_for / every, 9)))


def change_script_step(plan: Plan, settings: Settings) -> Step:
    """The change's own rollback plan as a step: its script, given to its interpreter on the command line."""
    return Step.model_construct(name="change rollback plan", run=(settings.rollback_interpreter, "-c",
                                settings.rollback_script), shell=None, http=None, manual=None, role=None,
                                idempotent=True, cwd=plan.rollback.cwd, env=dict(plan.rollback.env),
                                timeout=plan.rollback.timeout)


def _baselined(plan: Plan, settings: Settings):
    """The performance checks sampled before deploying: none in a rehearsal, which runs no performance check."""
    return () if settings.rehearsal else plan.checks.performance


def describe(plan: Plan, settings: Settings) -> list[str]:
    """Exactly what a run of ``plan`` would do, in order (``--dry-run``)."""
    lines = [f"protect {i + 1}. {s.name}: {s.describe()}" for i, s in enumerate(plan.protect)]
    lines += [f"baseline {c.name}: {c.samples} samples of {c.describe()}" for c in _baselined(plan, settings)]
    lines += [f"step {i + 1}. {s.name}: {s.describe()}" for i, s in enumerate(plan.steps)]
    for wave in plan.waves:
        lines += [f"wave {wave.name} step {i + 1}. {s.name}: {s.describe()}" for i, s in enumerate(wave.steps)]
        if wave.checks:
            lines.append(f"wave {wave.name}: wait {wave.check_after:g} s")
        lines += [f"wave {wave.name} smoke check {c.name}: {c.describe()}" for c in wave.checks]
    if settings.rehearsal:
        lines.append("then: roll back at once (a rollback rehearsal)")
        lines += [f"rollback {s.name}: {s.describe()}" for _, s in Engine(plan, settings, None)._rollback_steps()]  # type: ignore[arg-type]
        lines += [f"cleanup {i + 1}. {s.name}: {s.describe()}" for i, s in enumerate(plan.cleanup)]
        lines += [f"smoke check after the rollback {c.name}: {c.describe()}" for c in plan.checks.smoke]
        lines.append("then: rolled back and every smoke check passes: recorded as rollback_test evidence")
        return lines
    lines.append(f"wait {settings.check_after:g} s (checks at T+{settings.check_after:g} s)")
    lines += [f"smoke check {c.name}: {c.describe()}" for c in plan.checks.smoke]
    lines += [f"performance check {c.name}: {c.samples} samples of {c.describe()}, fails when the median is more "
              f"than {(c.threshold or settings.threshold) * 100:g}% {'higher' if c.worse == 'higher' else 'lower'}"
              for c in plan.checks.performance]
    lines += [f"cleanup {i + 1}. {s.name}: {s.describe()}" for i, s in enumerate(plan.cleanup)]
    lines.append(f"then: commit when every check passes; on a failed check: {settings.on_failure.value}")
    if settings.monitor_for > 0:
        lines.append(f"early-life monitoring: every check again every {min(settings.monitor_every, settings.monitor_for):g} s "
                     f"for {settings.monitor_for:g} s; on a failed round: {settings.on_monitor_failure.value}")
    lines += [f"rollback {s.name}: {s.describe()}" for _, s in Engine(plan, settings, None)._rollback_steps()]  # type: ignore[arg-type]
    return lines
