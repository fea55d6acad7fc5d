from __future__ import annotations

from datetime import datetime

from .common import AwareDatetime, Out, Strict


class EnvironmentOut(Out):
    name: str
    description: str
    production: bool
    data: str
    refresh_max_age_days: int | None
    write: list[str]
    deploy: list[str]
    data_refreshed_at: datetime | None
    refreshed_by: str | None


class RefreshIn(Strict):
    at: AwareDatetime | None = None
