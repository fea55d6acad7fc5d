"""The deployment plan (a YAML file attached to a change) as a model; see docs/runner.md.

Shape errors come from pydantic and reach the operator as ``file:line: field: sentence`` through
``services/runs_plan.py`` (the same path as the policy file). ``check_against_policy`` holds the checks
that need the policy (a manual step's role must exist and have holders), each with its path.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .values import Fraction, Seconds

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,79}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_name(v: str) -> str:
    if not _NAME.match(v):
        raise ValueError(f"{v!r} is not a step name (letters, digits, space, '_', '.', ':', '-'; at most 80)")
    return v


def _check_url(v: str) -> str:
    if not re.match(r"^https?://[^\s/]+", v):
        raise ValueError(f"{v!r} is not an http:// or https:// URL")
    return v


class HttpCall(_Strict):
    """An HTTP request; as a step or a smoke check it must answer ``expect_status`` (and match the body)."""

    url: str
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    headers: dict[str, str] = {}
    body: str | None = None
    expect_status: int = Field(default=200, ge=100, le=599)
    body_contains: str | None = None  # a plain substring the response body must hold
    body_matches: str | None = None  # a regular expression searched in the body

    _url = field_validator("url")(lambda cls, v: _check_url(v))

    @field_validator("body_matches")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return v


class Action(_Strict):
    """What a step or check does: exactly one of ``run`` (argv), ``shell`` (a line for /bin/sh) or
    ``http``. Commands run in ``cwd`` with ``env`` added to the worker's environment."""

    run: tuple[str, ...] | None = None
    shell: str | None = None
    http: HttpCall | None = None
    cwd: str | None = None
    env: dict[str, str] = {}
    timeout: Seconds | None = None  # None: the plan's default_timeout

    @field_validator("run")
    @classmethod
    def _argv(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and (not v or not v[0].strip()):
            raise ValueError("the command is empty (write the program and its arguments, e.g. [cp, a, b])")
        return v

    @field_validator("shell")
    @classmethod
    def _line(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("the shell line is empty")
        return v

    @field_validator("timeout")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("a timeout must be longer than zero")
        return v

    def _kinds(self) -> list[str]:
        return [k for k in ("run", "shell", "http") if getattr(self, k) is not None]

    @property
    def kind(self) -> str:
        return self._kinds()[0]

    def describe(self) -> str:
        """One line saying exactly what runs (the dry run prints it)."""
        where = f" (in {self.cwd})" if self.cwd else ""
        env = "".join(f" {k}={v}" for k, v in self.env.items())
        if self.run is not None:
            return f"run{env} {' '.join(_quote(a) for a in self.run)}{where}"
        if self.shell is not None:
            return f"sh -c{env} {_quote(self.shell)}{where}"
        h = self.http
        expect = f" expect {h.expect_status}" + (f" body containing {h.body_contains!r}" if h.body_contains else "") \
            + (f" body matching /{h.body_matches}/" if h.body_matches else "")
        return f"{h.method} {h.url}{expect}"


def _quote(arg: str) -> str:
    return arg if re.match(r"^[A-Za-z0-9_./:=@%+,-]+$", arg) else "'" + arg.replace("'", "'\\''") + "'"


def _exactly_one(action: Action, allowed: tuple[str, ...]) -> None:
    kinds = action._kinds()
    if len(kinds) != 1:
        raise ValueError(f"give exactly one of {', '.join(allowed)} (found {', '.join(kinds) or 'none'})")


class OnTimeout(StrEnum):
    """What a manual step nobody confirmed in time does."""

    FAIL = "fail"  # the step fails: under protect the run fails (nothing changed), under steps it rolls back
    PAUSE = "pause"  # the run pauses (steps and waves only): confirm the step late to carry on, or roll back


class Step(Action):
    """A step of protect, steps, rollback or cleanup: a command, an HTTP call, or a manual step done by
    a holder of ``role`` and confirmed by them (``changegate run confirm``)."""

    name: str
    manual: str | None = None  # the instruction a person follows
    role: str | None = None
    on_timeout: OnTimeout | None = None  # manual steps only; None: fail
    # Safe to run again after a worker died in the middle of it: a takeover re-runs it instead of rolling back.
    idempotent: bool = False

    _name = field_validator("name")(lambda cls, v: _check_name(v))

    @model_validator(mode="after")
    def _one_kind(self) -> "Step":
        if self.manual is not None:
            if self._kinds():
                raise ValueError("a manual step is done by a person: it has no run, shell or http")
            if not self.role:
                raise ValueError("a manual step needs the role whose holders confirm it (role: …)")
            return self
        if self.role is not None:
            raise ValueError("only a manual step has a role")
        if self.on_timeout is not None:
            raise ValueError("only a manual step has on_timeout (a command's timeout fails it)")
        _exactly_one(self, ("run", "shell", "http", "manual"))
        return self

    @property
    def kind(self) -> str:
        return "manual" if self.manual is not None else super().kind

    def describe(self) -> str:
        if self.manual is not None:
            return f"manual, confirmed by a {self.role}: {self.manual}"
        return super().describe()


class SmokeCheck(Action):
    """Passes when the command exits 0, or the HTTP call answers the expected status and body."""

    name: str
    _name = field_validator("name")(lambda cls, v: _check_name(v))

    @model_validator(mode="after")
    def _one_kind(self) -> "SmokeCheck":
        _exactly_one(self, ("run", "shell", "http"))
        return self


class Worse(StrEnum):
    HIGHER = "higher"  # latency, error rate: up is worse
    LOWER = "lower"  # throughput: down is worse


class PrometheusQuery(_Strict):
    """An instant PromQL query that returns one number (one series, or a scalar)."""

    url: str  # the Prometheus server, e.g. http://prometheus:9090
    query: str

    _url = field_validator("url")(lambda cls, v: _check_url(v))

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the query is empty")
        return v


class PerformanceCheck(Action):
    """A metric sampled ``samples`` times before the deployment (the baseline) and again at the check:
    the time an HTTP call takes (seconds), the number a command prints, or a Prometheus query's value.
    See ``decide.py``."""

    name: str
    prometheus: PrometheusQuery | None = None
    interval: Seconds = 0.0  # pause between samples (a metric that moves slowly, a Prometheus scrape)
    worse: Worse = Worse.HIGHER
    samples: int = 5  # fewer cannot tell noise from a regression
    threshold: Fraction | None = None  # None: the policy's deploy.threshold
    # Changes smaller than this (in the metric's unit) are noise whatever their percentage, e.g. 0.005 s.
    min_change: float = Field(default=0.0, ge=0)
    _name = field_validator("name")(lambda cls, v: _check_name(v))

    @field_validator("samples")
    @classmethod
    def _enough(cls, v: int) -> int:
        if not 5 <= v <= 1000:
            raise ValueError(f"{v} samples: take 5 to 1000 (fewer cannot tell noise from a regression)")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> "PerformanceCheck":
        kinds = self._kinds() + (["prometheus"] if self.prometheus is not None else [])
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of run, shell, http, prometheus (found {', '.join(kinds) or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return "prometheus" if self.prometheus is not None else super().kind

    def describe(self) -> str:
        if self.prometheus is not None:
            return f"Prometheus {self.prometheus.url} query {self.prometheus.query!r}"
        return super().describe()


class Checks(_Strict):
    smoke: tuple[SmokeCheck, ...] = ()
    performance: tuple[PerformanceCheck, ...] = ()


class OnFailure(StrEnum):
    ROLLBACK = "rollback"
    PAUSE = "pause"


class OnMonitorFailure(StrEnum):
    ROLLBACK = "rollback"
    PAUSE = "pause"
    ALARM = "alarm"  # record and audit an alarm; the deployment stands and monitoring goes on


class Timing(_Strict):
    check_after: Seconds | None = None  # None: the policy's deploy.check_after (15 minutes)
    on_failure: OnFailure | None = None  # None: the policy's deploy.on_failure (rollback)
    # Early-life monitoring: after the checks at T+N passed, every check again each monitor_every for
    # monitor_for (default: none); a failed round does on_monitor_failure (default: what on_failure says).
    monitor_for: Seconds = 0.0
    monitor_every: Seconds = 60.0
    on_monitor_failure: OnMonitorFailure | None = None

    @field_validator("monitor_every")
    @classmethod
    def _positive_interval(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("monitor_every must be longer than zero")
        return v


class Rollback(_Strict):
    # Run the change's own rollback plan (its script, with its interpreter) first.
    change_script: bool = True
    cwd: str | None = None  # where the change's script runs
    env: dict[str, str] = {}
    timeout: Seconds | None = None
    steps: tuple[Step, ...] = ()


class Artifact(_Strict):
    name: str
    sha256: str

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not _SHA256.match(v):
            raise ValueError("not a SHA-256 checksum (64 lower-case hexadecimal digits)")
        return v


class Wave(_Strict):
    """A part of the rollout (one line first, then the rest): its steps, then its smoke checks, which must pass
    before the next wave starts; a failure rolls back everything deployed so far."""

    name: str
    steps: tuple[Step, ...]
    check_after: Seconds = 0.0  # wait this long after the wave's steps before its checks
    checks: tuple[SmokeCheck, ...] = ()
    _name = field_validator("name")(lambda cls, v: _check_name(v))

    @model_validator(mode="after")
    def _some_steps(self) -> "Wave":
        if not self.steps:
            raise ValueError("a wave needs at least one step")
        _no_duplicates(self.steps, "steps")
        _no_duplicates(self.checks, "checks")
        return self


class Plan(_Strict):
    version: Literal[1] = 1
    artifact: Artifact | None = None
    default_timeout: Seconds = 600.0
    protect: tuple[Step, ...] = ()
    steps: tuple[Step, ...] = ()
    waves: tuple[Wave, ...] = ()  # instead of steps: the rollout in parts, checked between them
    checks: Checks = Checks()
    timing: Timing = Timing()
    rollback: Rollback = Rollback()
    cleanup: tuple[Step, ...] = ()  # after the checks, whatever their outcome (seed 004: remove smoke-test data)

    @model_validator(mode="after")
    def _unique_names(self) -> "Plan":
        if bool(self.steps) == bool(self.waves):
            raise ValueError("a plan has its steps under steps: or under waves:, one of the two")
        _no_duplicates(self.waves, "waves")
        for section in ("protect", "steps", "cleanup"):
            _no_duplicates(getattr(self, section), section)
        _no_duplicates(self.rollback.steps, "rollback.steps")
        _no_duplicates((*self.checks.smoke, *self.checks.performance), "checks")
        return self


def _no_duplicates(items, section: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise ValueError(f"{section}: the name {item.name!r} is used twice")
        seen.add(item.name)


def _sections(plan: Plan) -> list[tuple[tuple[str | int, ...], tuple[Step, ...]]]:
    return [(("protect",), plan.protect), (("steps",), plan.steps), (("rollback", "steps"), plan.rollback.steps),
            (("cleanup",), plan.cleanup), *((("waves", w, "steps"), wave.steps) for w, wave in enumerate(plan.waves))]


def check_against_policy(plan: Plan, roles: dict[str, list[str]]) -> list[tuple[tuple[str | int, ...], str]]:
    """Manual steps name a role of the policy that somebody holds; ``roles`` maps role -> holders. Only a
    deployment step may pause on a timeout (a paused protect, rollback or cleanup would have nothing to
    carry on to)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for path, steps in _sections(plan):
        for i, step in enumerate(steps):
            if step.on_timeout is OnTimeout.PAUSE and path[0] not in ("steps", "waves"):
                problems.append(((*path, i, "on_timeout"), "only a step under steps: or waves: may pause on a "
                                 "timeout; here an unconfirmed step fails"))
            if step.role is None:
                continue
            if step.role not in roles:
                problems.append(((*path, i, "role"), f"unknown role {step.role!r} (declared roles: "
                                 f"{', '.join(sorted(roles))})"))
            elif not roles[step.role]:
                problems.append(((*path, i, "role"), f"nobody holds the role {step.role!r}, so nobody could "
                                 "confirm this step"))
    return problems
