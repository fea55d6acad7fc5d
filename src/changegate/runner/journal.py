"""What the engine needs from whoever stores the run: the persistence protocol services implement.

Every method is one short transaction on the implementer's side, and each raises ``LeaseLost`` when this
worker no longer holds the run (its lease expired and another worker took over): the engine then stops
at once, without touching anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ..core.runs.machine import Event, RunState, StepState

if TYPE_CHECKING:  # execute.py imports stop.py, which imports this module
    from .execute import Outcome


class LeaseLost(Exception):
    """Another worker holds the run now."""


@dataclass(frozen=True)
class StepRecord:
    key: str
    state: StepState
    attempt: int
    detail: dict = field(default_factory=dict)


class Journal(Protocol):
    def state(self) -> RunState: ...

    def record(self, key: str) -> StepRecord | None: ...

    def begin(self, key: str, name: str, description: str, *, waiting: bool = False,
              detail: dict | None = None) -> None:
        """A step starts (``waiting``: a manual step, now waiting for a person's confirmation; ``detail``:
        kept with the step, e.g. a manual step's deadline)."""

    def annotate(self, key: str, detail: dict) -> None:
        """Add to a step's detail without ending it (a manual step that timed out and paused the run)."""

    def finish(self, key: str, outcome: Outcome) -> None: ...

    def move(self, event: Event, message: str = "") -> RunState:
        """Advance the run by ``event`` (core/runs/machine.py), with the figures the event fixes."""

    def checks_due_at(self) -> datetime: ...

    def monitor_until(self) -> datetime:
        """When early-life monitoring ends (set as the run entered it)."""

    def alarm(self, message: str) -> None:
        """Record and audit an alarm on the run (a failed round of early-life monitoring that only alarms)."""

    def note(self, message: str) -> None:
        """Record on the run what a takeover decided."""
