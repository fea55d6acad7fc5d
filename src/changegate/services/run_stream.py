"""Following a run's log as it happens: the API's streamed log (``GET …/run/log?follow=true``) and the local
``changegate run log --follow``.

A follower polls: each poll reads the run row, the steps added since the last poll and the steps still open
(a manual step waiting for its person), nothing else, and says a line for each step that started or ended
since. The API's stream is asynchronous (``follow_async``): between polls it awaits, and a poll's read runs
in the thread pool for the moment it takes, so a followed run holds no server thread while it waits for its
T+N or for a person, however many follow it. While nothing happens it sends a keep-alive (an empty line)
every ``KEEPALIVE_SECONDS``, so a proxy does not cut a quiet stream; it ends when the run ends or pauses.
"""

from __future__ import annotations

import time
from typing import AsyncIterator, Iterator

from ..core.runs.machine import FINAL, STEP_ENDED, RunState
from .context import Context
from .runtime import Runtime

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
KEEPALIVE = "\n"  # an empty line: clients skip it (cli/remote.py), proxies see bytes flowing
_RESTING = {s.value for s in FINAL} | {RunState.PAUSED.value}


class LogCursor:
    """What one follower has said of a run so far."""

    def __init__(self, rt: Runtime, run_id: int):
        self.rt, self.run_id = rt, run_id
        self.last_id, self.open_ids, self.said = 0, set(), {}
        self.ended = False

    def poll(self) -> list[str]:
        """The lines since the last poll; after the run's last one (it ended or paused), ``ended`` is set."""
        with self.rt.uow(write=False) as uow:
            run = uow.runs.get(self.run_id)
            fresh = uow.runs.steps(self.run_id, after_id=self.last_id, also=sorted(self.open_ids))
            state, outcome = run.state, run.outcome
            lines = [line for s in fresh if (line := self._line(s)) is not None]
        if state in _RESTING:
            self.ended = True
            lines.append(f"run {self.run_id} {state}" + (f": {outcome}" if outcome else "") + "\n")
        return lines

    def _line(self, step) -> str | None:
        self.last_id = max(self.last_id, step.id)
        (self.open_ids.discard if step.state in STEP_ENDED else self.open_ids.add)(step.id)
        if self.said.get(step.id) == (step.attempt, step.state):
            return None
        self.said[step.id] = (step.attempt, step.state)
        return (f"{(step.ended_at or step.started_at).isoformat()} {step.key} {step.name}: {step.state} "
                f"{(step.detail or {}).get('message', '')}".rstrip() + "\n")


def open_log(rt: Runtime, ctx: Context, ref: str) -> LogCursor:
    """A cursor on the change's newest run, if ``ctx`` may read it: asked before a stream starts, so that a
    refusal or an unknown change is an error status, not a stream."""
    from . import runs

    with rt.uow(write=False) as uow:
        return LogCursor(rt, runs.show_run(uow, ctx, ref, with_steps=False).id)


def follow(cursor: LogCursor, *, poll: float = POLL_SECONDS) -> Iterator[str]:
    """The lines as they come, until the run ends or pauses, sleeping between polls (the local CLI)."""
    while True:
        yield from cursor.poll()  # outside the transaction: a slow reader holds no snapshot open
        if cursor.ended:
            return
        time.sleep(poll)


async def follow_async(cursor: LogCursor, *, poll: float = POLL_SECONDS,
                       keepalive: float = KEEPALIVE_SECONDS) -> AsyncIterator[str]:
    """``follow`` for the event loop: awaits between polls; a keep-alive after ``keepalive`` quiet seconds."""
    import anyio

    said_at = time.monotonic()
    while True:
        lines = await anyio.to_thread.run_sync(cursor.poll)
        for line in lines:
            yield line
        if cursor.ended:
            return
        now = time.monotonic()
        if lines:
            said_at = now
        elif now - said_at >= keepalive:
            said_at = now
            yield KEEPALIVE
        await anyio.sleep(poll)
