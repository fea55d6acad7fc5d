"""Facts about environments that rules read, such as when UAT data was last refreshed from PROD."""

from __future__ import annotations

from datetime import datetime

from ..core.audit import AuditRecord
from ..core.errors import InvalidInput
from ..core.policy.model import Permission
from ..db.uow import UnitOfWork
from ..schemas.environments import EnvironmentOut
from .context import Context


def _known(ctx: Context, environment: str) -> None:
    if environment not in ctx.policy.environments:
        raise InvalidInput(f"unknown environment {environment!r} (known: {', '.join(ctx.policy.environments)})",
                           field="environment")


def describe(uow: UnitOfWork, ctx: Context, environment: str) -> EnvironmentOut:
    _known(ctx, environment)
    env = ctx.policy.environments[environment]
    fact = uow.environment_facts.get(environment)
    return EnvironmentOut(
        name=environment, description=env.description, production=env.production, data=env.data,
        refresh_max_age_days=env.refresh_max_age_days, write=list(env.write), deploy=list(env.deploy),
        data_refreshed_at=fact.data_refreshed_at if fact else None, refreshed_by=fact.refreshed_by if fact else None,
    )


def list_environments(uow: UnitOfWork, ctx: Context) -> list[EnvironmentOut]:
    return [describe(uow, ctx, name) for name in ctx.policy.environments]


def record_refresh(uow: UnitOfWork, ctx: Context, environment: str, at: datetime | None = None) -> EnvironmentOut:
    """Record that ``environment``'s data was refreshed (e.g. UAT from an anonymised PROD copy)."""
    _known(ctx, environment)
    ctx.require(Permission.ENVIRONMENT_MANAGE, environment=environment, entity=f"environment:{environment}")
    at = at or ctx.now
    if at > ctx.now:
        raise InvalidInput("the refresh time is in the future", field="at")
    fact = uow.environment_facts.upsert(environment)
    before = {"data_refreshed_at": fact.data_refreshed_at.isoformat() if fact.data_refreshed_at else None}
    fact.data_refreshed_at = at
    fact.refreshed_by = ctx.actor.id
    fact.updated_at = ctx.now
    uow.audit.append(AuditRecord(actor=ctx.actor.id, action="environment.data_refreshed",
                                 entity=f"environment:{environment}", before=before,
                                 after={"data_refreshed_at": at.isoformat()}), ctx.now)
    return describe(uow, ctx, environment)
