"""How ``deploy`` and ``rollback`` show a run while it moves (docs/runner.md, "The operator's view"), and how
a background job started through ``--url`` (the SQL check, the audit verification) shows its progress.

On a terminal: a live Rich display, redrawn four times a second — every step with its state and duration,
the run's current phase, and the time left until the checks at T+N (or until early-life monitoring ends).
Not on a terminal (a pipe, a CI log), or with ``--json``: one plain line per event, on stderr with
``--json`` so that stdout stays one JSON document. Imported only when a run is shown.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from ..core.runs.machine import RunState, StepState
from .output import console, err_console, escape

# What each state of a run means to the person watching it.
PHASES = {
    RunState.QUEUED: "queued: waiting for a worker",
    RunState.PROTECTING: "protecting: snapshots, backups and baselines; nothing changed yet",
    RunState.DEPLOYING: "deploying",
    RunState.WAITING: "waiting for the checks",
    RunState.CHECKING: "checking",
    RunState.MONITORING: "committed: early-life monitoring",
    RunState.PAUSED: "paused: a person decides (changegate rollback, or run commit)",
    RunState.ROLLING_BACK: "rolling back",
    RunState.COMMITTED: "committed",
    RunState.ROLLED_BACK: "rolled back",
    RunState.FAILED: "failed",
}
STYLES = {StepState.RUNNING: "yellow", StepState.WAITING: "magenta", StepState.SUCCEEDED: "green",
          StepState.FAILED: "bold red"}


def showing(json_out: bool, act: Callable[[Any], dict]) -> dict:
    """``act(progress)`` with a live display on a terminal, else plain lines."""
    if json_out or not console.is_terminal:
        target = err_console if json_out else console
        return act(lambda line, run: target.print(f"  {escape(line)}", highlight=False))
    from rich.live import Live

    display = RunDisplay()
    with Live(display, console=console._console, refresh_per_second=4, transient=False):
        return act(display.update)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class RunDisplay:
    """The live view; ``update`` takes each event's run, rendering reads the clock (the countdown ticks)."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.run: dict | None = None
        self.last = ""
        self.now = now

    def update(self, line: str, run: dict) -> None:
        self.run, self.last = run, line

    def phase(self) -> str:
        run = self.run
        text = PHASES.get(run["state"], run["state"])
        due = _time(run.get("checks_due_at"))
        if run["state"] == RunState.WAITING and due is not None:
            text += f" — checks at T+N in {_seconds((due - self.now()).total_seconds())}"
        until = _time(run.get("monitor_until"))
        if run["state"] == RunState.MONITORING and until is not None:
            text += f" — {_seconds((until - self.now()).total_seconds())} left"
        return text

    def duration(self, step: dict) -> str:
        started = _time(step["started_at"])
        ended = _time(step.get("ended_at")) or self.now()
        return f"{(ended - started).total_seconds():.1f}s"

    def __rich__(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        if self.run is None:
            return Text("starting…")
        run = self.run
        title = Text(f"run {run['id']} of {run['change']} on {run['environment']}: ", style="bold")
        title.append(self.phase())
        table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
        for column in ("step", "name", "state", "took", ""):
            table.add_column(column)
        for step in run["steps"]:
            table.add_row(step["key"], step["name"], Text(step["state"], style=STYLES.get(step["state"], "")),
                          self.duration(step), Text(step["detail"].get("message", ""), overflow="ellipsis"))
        return Group(title, table, Text(self.last, style="dim"))


WORKER_HINT_SECONDS = 30  # a job still queued after this long: say which process takes it


def job_line(job: dict, waited: float = 0.0) -> str:
    """A background job's state in a few words: ``queued: waiting for a worker``, ``running: checking the
    chain (12,000 of 50,000)``. ``waited``: seconds since it was queued (a long wait says what to check)."""
    if job["state"] == "queued":
        if waited >= WORKER_HINT_SECONDS:
            return (f"queued: no worker has taken it for {int(waited)} s; on PostgreSQL a 'changegate worker' "
                    "process must run (Ctrl-C stops waiting; the job stays queued)")
        return "queued: waiting for a worker"
    progress = job.get("progress") or {}
    text = f"{job['state']}: {progress.get('phase') or 'under way'}"
    if progress.get("done") is not None and progress.get("total"):
        text += f" ({progress['done']:,} of {progress['total']:,})"
    return text


@contextmanager
def following_job() -> Iterator[Callable[..., None]]:
    """A ``show(job, waited)`` for a background job being polled, always on stderr (stdout carries only what
    the local command prints): a transient status line on a terminal, else a line each time the state changes."""
    if not err_console.is_terminal:
        said = [""]

        def say(job: dict, waited: float = 0.0) -> None:
            if (line := job_line(job, waited)) != said[0]:
                said[0] = line
                err_console.print(f"  {escape(line)}", highlight=False)

        yield say
        return
    with err_console._console.status("starting…") as status:
        yield lambda job, waited=0.0: status.update(escape(job_line(job, waited)))
