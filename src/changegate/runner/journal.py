"""What the engine needs from whoever stores the run: the persistence protocol services implement.

Every method is one short transaction on the implementer's side, and each raises ``LeaseLost`` when this
worker no longer holds the run (its lease expired and another worker took over): the engine then stops
at once, without touching anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..core.runs.machine import Event, RunState
from .execute import Outcome


class LeaseLost(Exception):
    """Another worker holds the run now."""


@dataclass(frozen=True)
class StepRecord:
    key: str
    state: str  # running, waiting (a manual step), succeeded, failed
    attempt: int
    detail: dict = field(default_factory=dict)


class Journal(Protocol):
    def state(self) -> RunState: ...

    def record(self, key: str) -> StepRecord | None: ...

    def begin(self, key: str, name: str, description: str, *, waiting: bool = False) -> None:
        """A step starts (``waiting``: a manual step, now waiting for a person's confirmation)."""

    def finish(self, key: str, outcome: Outcome) -> None: ...

    def move(self, event: Event, message: str = "") -> RunState:
        """Advance the run by ``event`` (core/runs/machine.py), with the figures the event fixes."""

    def checks_due_at(self) -> datetime: ...

    def note(self, message: str) -> None:
        """Record on the run what a takeover decided."""
