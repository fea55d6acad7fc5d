"""Stopping a run's driver: the worker lost its lease, or the worker itself stops.

Every command of a run starts in a session (and process group) of its own and is registered here while it
runs. ``Stop.set`` kills every registered group (SIGTERM, then SIGKILL after a grace) and wakes the engine's
waits; the engine then raises ``Stopped`` instead of recording the step as ended: the step stays started and
not ended, and whoever takes the run over applies the durable rules (run it again when idempotent, otherwise
roll back; docs/runner.md, "Durability").
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager

from .journal import LeaseLost


class Stopped(LeaseLost):
    """This worker stopped driving the run (its lease was lost, or the worker stops); nothing was recorded."""


class Stop:
    def __init__(self, kill_grace: float = 5.0):
        self.kill_grace = kill_grace
        self.reason = ""
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._groups: set[subprocess.Popen] = set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self, reason: str) -> None:
        """Stop driving: kill every command under way (SIGTERM, then SIGKILL) and wake every wait. Returns once
        the commands' process groups are gone (or after the grace and a SIGKILL)."""
        with self._lock:
            if not self._event.is_set():
                self.reason = reason
                self._event.set()
            groups = list(self._groups)
        for proc in groups:
            kill_group(proc, self.kill_grace)

    def check(self) -> None:
        if self._event.is_set():
            raise Stopped(self.reason)

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` that a stop cuts short, then raises ``Stopped``."""
        self._event.wait(max(0.0, seconds))
        self.check()

    def start(self, argv: list[str], **popen) -> subprocess.Popen:
        """Start a command and register it, under the lock that ``set`` takes: a stop either comes first (then
        nothing starts: ``Stopped``) or finds the command registered and kills it before ``set`` returns."""
        with self._lock:
            if self._event.is_set():
                raise Stopped(self.reason)
            proc = subprocess.Popen(argv, **popen)
            self._groups.add(proc)
            return proc

    @contextmanager
    def tracking(self, proc: subprocess.Popen):
        """While a command started by ``start`` runs; unregistered when it ended."""
        try:
            yield
        finally:
            with self._lock:
                self._groups.discard(proc)


NEVER = Stop()  # for callers without a stop (dry runs, tools): never set


def kill_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM to the command's whole process group, SIGKILL to what is left after ``grace`` seconds; returns
    when no process of the group is left (or at most 5 s past the SIGKILL)."""
    pgid = proc.pid  # the command leads a session of its own: its pid is its group's id
    if not _signal(pgid, signal.SIGTERM):
        return
    if _gone_within(pgid, grace):
        return
    _signal(pgid, signal.SIGKILL)
    _gone_within(pgid, max(grace, 5.0))  # SIGKILL cannot be caught: only a loaded machine makes this wait


def _signal(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # the group id was reused by somebody else's processes: ours are gone
        return False


def _gone_within(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if not _group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. A zombie leader (dead, not yet reaped by the thread that
    waits for it) does not count."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        with open(f"/proc/{pgid}/stat") as f:
            leader_zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        leader_zombie = True
    if not leader_zombie:
        return True
    return _other_members(pgid)


def _other_members(pgid: int) -> bool:
    """Whether any process other than the zombie leader is in the group (Linux: read /proc)."""
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return True
    for pid in pids:
        if pid == pgid:
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
