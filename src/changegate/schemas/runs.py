"""Deployment plans and runs at the boundary (API bodies, CLI JSON)."""

from __future__ import annotations

from datetime import datetime

from typing import Annotated

from pydantic import Field, StringConstraints

from ..core.runs.machine import RunState, StepState
from .common import Line, Out, Reason, Strict, Text

PlanText = Annotated[Text, StringConstraints(min_length=1, max_length=1_000_000)]


class PlanIn(Strict):
    filename: Line(255) = "plan.yaml"
    text: PlanText = Field(description="the plan file's YAML text (docs/runner.md)")


class PlanOut(Out):
    change: str
    id: int
    filename: str
    sha256: str
    attached_by: str
    attached_at: datetime
    text: str


class DeployIn(Strict):
    environment: Line(64)
    override_reason: Reason() = Field(default="", description="emergency changes: why a blocked gate is overridden")
    plan: PlanIn | None = Field(default=None, description="attach this plan first (else the change's plan runs)")
    dry_run: bool = False
    rehearse_rollback: bool = Field(default=False, description="deploy, roll back at once, check, and record the "
                                    "result as the change's rollback_test evidence (a non-production environment)")


class RollbackIn(Strict):
    reason: Reason(required=True)


class CommitIn(Strict):
    reason: Reason(required=True)


class ConfirmIn(Strict):
    step: Line(120) = Field(description="the step's name or key (steps.2)")
    done: bool = True
    note: Reason() = ""


class StepOut(Out):
    id: int
    key: str
    name: str
    description: str
    state: StepState
    attempt: int
    exit_status: int | None
    output: str
    detail: dict
    worker: str
    started_at: datetime
    ended_at: datetime | None


class RunOut(Out):
    id: int
    change: str
    environment: str
    state: RunState
    rehearsal: bool = False
    actor: str
    plan_filename: str
    plan_sha256: str
    lease_owner: str | None
    lease_expires: datetime | None
    created_at: datetime
    ended_at: datetime | None
    checks_due_at: datetime | None
    monitor_until: datetime | None = None  # when early-life monitoring ends (a run that entered it)
    outcome: str
    notes: list[str]
    # What was measured (docs/runner.md): seconds.
    check_to_rollback_seconds: float | None
    rollback_seconds: float | None
    rollback_over_limit: bool | None
    downtime_seconds: float | None
    estimated_downtime_minutes: int | None
    steps: list[StepOut] = []


class DryRunOut(Out):
    change: str
    environment: str
    plan_sha256: str
    lines: list[str]
