"""The policy file as a model: environments, roles, people, approvals, emergencies, templates.

Shape validation is pydantic's; cross-references (a rule naming an unknown
role, a developer allowed to write to PROD) are checked by ``cross_check``,
which returns the path of each problem so the loader can name file and line.
Schedule and gate sections are owned by their own modules.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..changes.entities import Category, ChangeType, ReleaseLevel, Risk
from .durations import DurationMinutes
from ..gate.policy import TEMPLATE_SATISFIABLE, GatePolicy, Rule
from ..schedule.policy import SchedulePolicy
from ..runs.values import Fraction, Seconds
from ..cmdb.policy import CmdbPolicy

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class Permission(StrEnum):
    CHANGE_READ = "change.read"
    CHANGE_CREATE = "change.create"
    CHANGE_MANAGE = "change.manage"  # edit, submit, cancel anybody's change
    CHANGE_ASSESS = "change.assess"
    CHANGE_APPROVE = "change.approve"
    CHANGE_SCHEDULE = "change.schedule"
    CHANGE_IMPLEMENT = "change.implement"  # start, complete, fail, roll back (plus deploy rights on the environment)
    EVIDENCE_ATTACH = "evidence.attach"
    UAT_SIGNOFF = "uat.signoff"
    SCHEDULE_OVERRIDE = "schedule.override"  # accept conflicts, emergency overrides, ad-hoc freezes
    GATE_OVERRIDE = "gate.override"  # start an emergency change whose gate is blocked, with a reason
    ENVIRONMENT_MANAGE = "environment.manage"  # record facts such as the UAT refresh date
    AUDIT_READ = "audit.read"
    TOKEN_MANAGE = "token.manage"
    CMDB_MANAGE = "cmdb.manage"  # create, edit, delete and import configuration items and relations


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvironmentPolicy(_Strict):
    description: str = ""
    production: bool = False
    data: Literal["synthetic", "anonymised", "live"] = "synthetic"
    refresh_max_age_days: int | None = Field(default=None, ge=1)
    site: str | None = None
    write: tuple[str, ...] = ()  # roles with direct write access to the environment
    deploy: tuple[str, ...] = ()  # roles that may implement changes there
    # The requester of a change may not assess it; unset: on exactly for production environments.
    separation_of_duties: bool | None = None

    @property
    def requires_separation_of_duties(self) -> bool:
        return self.production if self.separation_of_duties is None else self.separation_of_duties


class RolePolicy(_Strict):
    description: str = ""
    permissions: tuple[Permission, ...] = ()
    # Holders never get write or deploy on a production environment (seed 000:
    # "0% developer write access to PROD"), whatever else they hold.
    developer: bool = False


class Person(_Strict):
    id: str
    name: str
    email: str | None = None
    roles: tuple[str, ...] = ()
    service_account: bool = False  # a pipeline identity: signs in with API tokens only

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"{v!r} is not a valid id (lower-case letters, digits, '.', '_', '-')")
        return v


class ApprovalRule(_Strict):
    """Which roles must approve; the most specific matching rule wins."""

    release_level: ReleaseLevel | None = None
    environment: str | None = None
    category: Category | None = None
    type: ChangeType | None = None
    roles: tuple[str, ...]

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.release_level, self.environment, self.category, self.type))


class ApprovalsPolicy(_Strict):
    matrix: tuple[ApprovalRule, ...] = (
        ApprovalRule(release_level=ReleaseLevel.PATCH, roles=("it_manager",)),
        ApprovalRule(release_level=ReleaseLevel.MINOR, roles=("it_manager", "operations_manager")),
        ApprovalRule(release_level=ReleaseLevel.MAJOR, roles=("cio", "plant_director")),
    )


class EmergencyPolicy(_Strict):
    retroactive_approval_deadline: DurationMinutes = 48 * 60

    @field_validator("retroactive_approval_deadline")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v == 0:
            raise ValueError("the deadline must be longer than zero")
        return v

    @property
    def retroactive_approval_deadline_minutes(self) -> int:
        return self.retroactive_approval_deadline


class RollbackPlan(_Strict):
    script: str
    interpreter: str = "sh"


class StandardTemplate(_Strict):
    """A pre-approved, repeatable change (ITIL standard change)."""

    id: str
    title: str
    description: str = ""
    category: Category
    release_level: ReleaseLevel = ReleaseLevel.PATCH
    risk: Risk = Risk.STANDARD
    environments: tuple[str, ...]
    items: tuple[str, ...] = ()
    impact_analysis: str = ""
    implementation_plan: str
    verification_plan: str = ""
    rollback_plan: RollbackPlan
    estimated_downtime: DurationMinutes = 0
    # Gate rules the template itself vouches for (tested once, the same every time): evidence,
    # rollback, versioning. A change filed from it then needs no per-change proof of those.
    satisfies: tuple[Rule, ...] = ()

    @field_validator("satisfies")
    @classmethod
    def _satisfiable(cls, v: tuple[Rule, ...]) -> tuple[Rule, ...]:
        for rule in v:
            if rule not in TEMPLATE_SATISFIABLE:
                raise ValueError(f"a template cannot satisfy the {rule.value} rule (only "
                                 f"{', '.join(r.value for r in TEMPLATE_SATISFIABLE)})")
        if len(set(v)) != len(v):
            raise ValueError("a rule is listed twice")
        return v

    @property
    def estimated_downtime_minutes(self) -> int:
        return self.estimated_downtime


class DeployPolicy(_Strict):
    """Defaults for deployment runs (docs/runner.md); a plan may set its own check_after and on_failure."""

    check_after: Seconds = 15 * 60.0  # seed 000: the smoke test at T+15
    threshold: Fraction = 0.20  # seed 000: performance more than 20% worse rolls back
    rollback_limit: Seconds = 15 * 60.0  # seed 000: back to known-good within 15 minutes
    on_failure: Literal["rollback", "pause"] = "rollback"
    lease: Seconds = 90.0  # a worker's claim on a run without renewal; > 2 × the writer wait (core/runs/lease.py)
    # Seed 004, promotion: a production deployment ships a build (the plan's artifact) that already
    # committed on this environment, identified by its checksum.
    promotion: bool = True
    promote_from: str = "uat"


class Policy(_Strict):
    version: Literal[1] = 1
    organization: str = ""
    environments: dict[str, EnvironmentPolicy]
    roles: dict[str, RolePolicy]
    people: tuple[Person, ...] = ()
    approvals: ApprovalsPolicy = ApprovalsPolicy()
    emergency: EmergencyPolicy = EmergencyPolicy()
    standard_changes: tuple[StandardTemplate, ...] = ()
    schedule: SchedulePolicy = SchedulePolicy()
    gate: GatePolicy = GatePolicy()
    deploy: DeployPolicy = DeployPolicy()
    cmdb: CmdbPolicy = CmdbPolicy()

    def person(self, person_id: str) -> Person | None:
        return self._people_by_id().get(person_id)

    def template(self, template_id: str) -> StandardTemplate | None:
        return next((t for t in self.standard_changes if t.id == template_id), None)

    def _people_by_id(self) -> dict[str, Person]:
        cache = self.__dict__.get("_people_cache")
        if cache is None:
            cache = {p.id: p for p in self.people}
            object.__setattr__(self, "_people_cache", cache)  # frozen model: cache is derived, not state
        return cache

    def holders(self, role: str) -> list[Person]:
        return [p for p in self.people if role in p.roles]


Problem = tuple[tuple[str | int, ...], str]


def cross_check(policy: Policy) -> list[Problem]:
    """References between sections; each problem with the path it sits at."""
    problems: list[Problem] = []
    for check in (_check_environments, _check_people, _check_approvals, _check_schedule_and_gate, _check_templates):
        problems.extend(check(policy))
    problems.extend(policy.cmdb.problems())
    return problems


def _unknown_role(policy: Policy, path: tuple[str | int, ...], role: str) -> list[Problem]:
    if role in policy.roles:
        return []
    return [(path, f"unknown role {role!r} (declared roles: {', '.join(sorted(policy.roles))})")]


def _check_environments(policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    roles = policy.roles
    for name, env in policy.environments.items():
        for kind in ("write", "deploy"):
            for i, role in enumerate(getattr(env, kind)):
                path = ("environments", name, kind, i)
                problems += _unknown_role(policy, path, role)
                if env.production and role in roles and roles[role].developer:
                    problems.append(
                        (path, f"role {role!r} is a developer role and cannot hold {kind} on production "
                               f"environment {name!r} (0% developer write access to PROD)")
                    )
    return problems


def _check_people(policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, person in enumerate(policy.people):
        if person.id in seen:
            problems.append((("people", i, "id"), f"duplicate person id {person.id!r} (first at people.{seen[person.id]})"))
        seen.setdefault(person.id, i)
        for j, role in enumerate(person.roles):
            problems += _unknown_role(policy, ("people", i, "roles", j), role)
    return problems


def _check_approvals(policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    for i, rule in enumerate(policy.approvals.matrix):
        if rule.environment is not None and rule.environment not in policy.environments:
            problems.append((("approvals", "matrix", i, "environment"), f"unknown environment {rule.environment!r}"))
        for j, role in enumerate(rule.roles):
            problems += _unknown_role(policy, ("approvals", "matrix", i, "roles", j), role)
        if len(set(rule.roles)) != len(rule.roles):
            problems.append((("approvals", "matrix", i, "roles"), "a role is listed twice"))
    return problems


def _check_schedule_and_gate(policy: Policy) -> list[Problem]:
    named = [(("schedule", "environments", env), env) for env in policy.schedule.environments]
    named += [(("gate", section, env), env)
              for section in ("environments", "enforce_on_start") for env in getattr(policy.gate, section)]
    return [(path, f"unknown environment {env!r}") for path, env in named if env not in policy.environments]


def _check_templates(policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    template_ids: set[str] = set()
    for i, template in enumerate(policy.standard_changes):
        if template.id in template_ids:
            problems.append((("standard_changes", i, "id"), f"duplicate template id {template.id!r}"))
        template_ids.add(template.id)
        for j, env in enumerate(template.environments):
            if env not in policy.environments:
                problems.append((("standard_changes", i, "environments", j), f"unknown environment {env!r}"))
    return problems
