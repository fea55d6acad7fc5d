"""Background jobs (changegate.jobs): long work started through the API, polled until it ends."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .common import Out, Strict

Anchor = Annotated[str, StringConstraints(min_length=3, max_length=100)]


class AuditVerifyIn(Strict):
    anchors: list[Anchor] = Field(default_factory=list, max_length=20,
                                  description="SEQ:HASH kept outside the database (from /audit/head)")


class JobProgress(Out):
    phase: str = ""
    done: int | None = None
    total: int | None = None


class JobOut(Out):
    """A background job: poll ``GET /api/v1/jobs/{id}`` until ``state`` is succeeded or failed. ``result``
    is what the synchronous endpoint answers (the SQL check's report, the audit verdict); ``error`` is an
    error body as the API's errors are (``error``, ``message``, ``reasons``…)."""

    id: int
    kind: Literal["sql_check", "audit_verify"]
    state: Literal["queued", "running", "succeeded", "failed"]
    actor: str
    progress: JobProgress
    result: dict | None = None
    error: dict | None = None
    attempts: int
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    href: str
