"""SQLite's job engine: the in-house lease loop in threads (runs through ``services/runs_worker.py``,
background jobs through ``services/background.py``).

SQLite has no job server to ask, and one writer at a time; the runs' table is the queue and its lease the
claim. ``concurrency`` threads each claim and drive runs; ``dispatch_run`` wakes them at once when the run
was queued in this process (the API inside ``changegate serve``), and otherwise they look every half second.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Callable

from ..services import background, runs_worker
from ..services.runtime import Runtime
from . import DEFAULT_CONCURRENCY, OnEvent

STOP_GRACE_SECONDS = 10.0
log = logging.getLogger(__name__)


class _Pool:
    """``concurrency`` threads running the lease loop, until stopped, idle (``exit_when_idle``) or
    ``max_runs`` driven between them."""

    def __init__(self, rt: Runtime, wake: threading.Event, *, concurrency: int, max_runs: int | None,
                 exit_when_idle: bool, on_event: OnEvent | None, daemon: bool):
        self.rt, self.wake, self.max_runs = rt, wake, max_runs
        self.stop_event = threading.Event()
        self.driven, self._lock = 0, threading.Lock()
        self.restore_signal: Callable[[], None] = lambda: None  # start_background's SIGTERM handler, undone
        self.threads = [threading.Thread(target=self._loop, args=(exit_when_idle, on_event), daemon=daemon,
                                         name=f"changegate-worker-{i}") for i in range(concurrency)]
        for t in self.threads:
            t.start()

    def _loop(self, exit_when_idle: bool, on_event: OnEvent | None) -> None:
        """Runs first, then background jobs; when there is neither, wait for a wake-up or the next look."""
        me = runs_worker.worker_id()
        while not self.stop_event.is_set():
            try:
                busy = self._one(me, on_event)
            except Exception:  # noqa: BLE001 - a busy or lost database: the thread lives on and looks again
                log.warning("worker %s: taking work failed; trying again", me, exc_info=True)
                busy = False
            if busy:
                continue
            if exit_when_idle:
                return
            self.wake.wait(runs_worker.IDLE_POLL_SECONDS)
            self.wake.clear()

    def _one(self, me: str, on_event: OnEvent | None) -> bool:
        """Take one run, else one background job, and carry it out; whether there was any."""
        if (run_id := runs_worker.claim(self.rt, me)) is not None:
            if runs_worker.drive_claimed(self.rt, run_id, me, on_event=on_event) is not None:
                self._count()
            return True
        if (job_id := background.claim(self.rt, me)) is not None:
            background.carry_out(self.rt, job_id, me)
            return True
        return False

    def _count(self) -> None:
        with self._lock:
            self.driven += 1
            if self.max_runs is not None and self.driven >= self.max_runs:
                self.stop_event.set()

    def join(self) -> int:
        for t in self.threads:
            t.join()
        return self.driven

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """No new run is taken, and every run being driven stops now: its command under way is killed
        (SIGTERM, then SIGKILL), nothing is recorded as ended, and its lease is given back, so the next worker
        (the restarted server) takes it over at once by the durable rules (docs/runner.md, "Durability").
        The threads then get ``grace`` seconds to end (a background job under way finishes first)."""
        self.stop_event.set()
        self.wake.set()
        self.restore_signal()
        runs_worker.stop_driving("the worker inside changegate serve is stopping", rt=self.rt)
        for t in self.threads:
            t.join(grace)


class InHouseEngine:
    name = "in-house lease loop"

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.wake = threading.Event()

    def dispatch_run(self, run_id: int) -> None:
        self.wake.set()  # the claim takes the oldest free run, this one or an older one

    def dispatch_runs(self, run_ids: list[int]) -> None:
        self.wake.set()

    def dispatch_job(self, job_id: int) -> None:
        self.wake.set()

    def work(self, *, concurrency: int = DEFAULT_CONCURRENCY, max_runs: int | None = None,
             exit_when_idle: bool = False, on_event: OnEvent | None = None) -> int:
        runs_worker.timing(self.rt)  # a lease too short for this database: a configuration error at start
        pool = _Pool(self.rt, self.wake, concurrency=concurrency, max_runs=max_runs,
                     exit_when_idle=exit_when_idle, on_event=on_event, daemon=True)
        try:
            return pool.join()
        except KeyboardInterrupt:
            pool.stop()
            return pool.driven

    def start_background(self, *, concurrency: int = DEFAULT_CONCURRENCY, on_event: OnEvent | None = None) -> _Pool:
        runs_worker.timing(self.rt)  # a lease too short for this database: a configuration error at start
        pool = _Pool(self.rt, self.wake, concurrency=concurrency, max_runs=None, exit_when_idle=False,
                     on_event=on_event, daemon=True)
        _stop_on_sigterm(pool)
        return pool

    def close(self) -> None:
        pass


def _stop_on_sigterm(pool: _Pool) -> None:
    """``changegate serve`` ends on SIGTERM without unwinding (uvicorn re-raises the signal after its shutdown,
    and SIGTERM's default kills the process): stop the pool first, so the runs' commands die with the process
    instead of outliving it, then die of the signal as before. Only the main thread may set a handler."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame) -> None:
        signal.signal(signal.SIGTERM, previous)
        pool.stop()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    pool.restore_signal = restore
