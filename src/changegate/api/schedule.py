"""REST endpoints of the schedule, the gate and environment facts."""

from __future__ import annotations

from fastapi import APIRouter

from ..schemas.environments import EnvironmentOut, RefreshIn
from ..schemas.gate import GateIn, GateOut
from ..services import environments, gate
from ..schemas.common import ERROR_RESPONSES
from .deps import RT, Caller

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


@router.post("/changes/{ref}/gate", tags=["gate"], response_model=GateOut)
def evaluate_gate(ref: str, body: GateIn, ctx: Caller, rt: RT) -> GateOut:
    """May the caller deploy this change to this environment now? Every rule with its reason."""
    with rt.uow() as uow:
        return gate.evaluate(uow, ctx, ref, body.environment, body.at)


@router.get("/environments", tags=["environments"], response_model=list[EnvironmentOut])
def list_environments(ctx: Caller, rt: RT) -> list[EnvironmentOut]:
    with rt.uow(write=False) as uow:
        return environments.list_environments(uow, ctx)


@router.post("/environments/{name}/data-refresh", tags=["environments"], response_model=EnvironmentOut)
def record_refresh(name: str, body: RefreshIn, ctx: Caller, rt: RT) -> EnvironmentOut:
    """Record when the environment's data was refreshed (UAT freshness rule)."""
    with rt.uow() as uow:
        return environments.record_refresh(uow, ctx, name, body.at)
