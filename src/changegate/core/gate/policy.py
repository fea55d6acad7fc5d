"""The ``gate:`` section of the policy: which Final Checkout rules apply where."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, field_validator

from ..policy.durations import DurationMinutes

if TYPE_CHECKING:
    from ..policy.model import EnvironmentPolicy


class Rule(StrEnum):
    AUTHORIZED = "authorized"
    TIMING = "timing"
    EVIDENCE = "evidence"
    ROLLBACK = "rollback"
    ISOLATION = "isolation"
    UAT_FRESHNESS = "uat_freshness"
    VERSIONING = "versioning"
    IDEMPOTENT_SQL = "idempotent_sql"
    CONFLICTS = "conflicts"


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_ASSESSED = "not_assessed"


ALL_RULES: tuple[Rule, ...] = tuple(Rule)
# Seed 000's Final Checkout applies in full to production; lower environments check less.
LOWER_ENVIRONMENT_RULES: tuple[Rule, ...] = (Rule.AUTHORIZED, Rule.ISOLATION, Rule.CONFLICTS)
# What a pre-approved standard-change template may vouch for in place of per-change proof.
TEMPLATE_SATISFIABLE: tuple[Rule, ...] = (Rule.EVIDENCE, Rule.ROLLBACK, Rule.VERSIONING)
# What an emergency override may pass over: never a rejected or unauthorized change, never a deployer
# without deploy rights.
OVERRIDABLE: frozenset[Rule] = frozenset(ALL_RULES) - {Rule.AUTHORIZED, Rule.ISOLATION}


class GatePolicy(BaseModel):
    """Rules per environment; an environment not listed gets all rules if production, else a few."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environments: dict[str, tuple[Rule, ...]] = {}
    # Environments where `change start` must pass the gate; unlisted: on exactly for production ones.
    enforce_on_start: dict[str, bool] = {}
    # How long before its planned start a change may start (its slot ends at start + downtime).
    start_tolerance: DurationMinutes = 15

    @field_validator("environments")
    @classmethod
    def _no_duplicates(cls, v: dict[str, tuple[Rule, ...]]) -> dict[str, tuple[Rule, ...]]:
        for env, rules in v.items():
            if len(set(rules)) != len(rules):
                raise ValueError(f"{env}: a rule is listed twice")
        return v

    def rules_for(self, environment: "EnvironmentPolicy | None", name: str) -> tuple[Rule, ...]:
        if name in self.environments:
            return self.environments[name]
        return ALL_RULES if environment is not None and environment.production else LOWER_ENVIRONMENT_RULES

    def enforced_on_start(self, environment: "EnvironmentPolicy | None", name: str) -> bool:
        if name in self.enforce_on_start:
            return self.enforce_on_start[name]
        return environment is not None and environment.production
