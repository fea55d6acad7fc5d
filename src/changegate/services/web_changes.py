"""What the change pages read beyond the API's use cases: a draft to edit, and what a person may do
on a change (asked with ``Context.may``, never audited: nothing was attempted)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.changes.entities import TERMINAL_STATES, ChangeType, State, format_ref
from ..core.runs.machine import ACTIVE, TRANSITIONS, UNFINISHED, Event, RunState
from ..core.errors import Refused
from ..core.policy.model import Permission
from ..db.uow import UnitOfWork
from ..schemas.changes import ChangeOut
from ..schemas.cmdb import ImpactOut
from ..schemas.runs import RunOut
from . import cmdb_changes, runs
from .context import Context
from .lookup import load
from .views import change_out, facts_of


def draft_to_edit(uow: UnitOfWork, ctx: Context, ref: str) -> ChangeOut:
    """The draft as the edit form shows it; only those who may manage it (its requester, a change
    manager), and only while it is a draft. Saving goes through ``changes.update_change``, which checks
    (and audits) again."""
    change = load(uow, ref)
    facts = facts_of(change)
    ctx.require(Permission.CHANGE_READ, change=facts)
    ctx.require(Permission.CHANGE_MANAGE, change=facts)  # a refusal is audited, as every other one
    if facts.state is not State.DRAFT:
        raise Refused(f"cannot edit {facts.ref}: it is {change.state}; only drafts are edited "
                      "(withdraw a submitted change first)")
    return change_out(ctx, change)


def schedule_zone(uow: UnitOfWork, ctx: Context, ref: str) -> str:
    """The zone a planned start typed on the change page is read in: its environment's, which the page's
    label names (``schedule.timezone_for``; the plant's when the environment has none of its own)."""
    return ctx.policy.schedule.timezone_for(load(uow, ref).environment)


IMPACT_SHOWN = 50  # impacted items listed with their paths on the change page; the count says how many in all


def impact_of(uow: UnitOfWork, ctx: Context, change) -> ImpactOut | None:
    """The change's CMDB impact as ``GET /changes/{ref}/impact`` answers it (services/cmdb_changes.py, read
    only): the computed impact, nearest first, each item with its path and curation; the requester's decisions;
    the highest criticality and the risk floor. None while the CMDB holds no item (no search is made)."""
    if not uow.cmdb.has_items():
        return None
    return cmdb_changes.change_impact(uow, ctx, format_ref(change.id), [], None, IMPACT_SHOWN)


@dataclass
class Deployment:
    """What the change page offers of deployment runs (the server decides again through services/runs.py)."""
    may_deploy: bool = False  # start the change and queue a run of its plan (the gate asked on start)
    plan: str = ""  # the attached plan's file name; empty: the form asks for one
    may_override: bool = False  # an emergency change, and the actor holds gate.override
    may_roll_back: bool = False  # the newest run is under way in a state a rollback can interrupt


_ROLLBACK_FROM = frozenset(s for (s, e) in TRANSITIONS if e is Event.ROLLBACK_REQUESTED)


def deployment(uow: UnitOfWork, ctx: Context, change, out: ChangeOut, newest_run: RunOut | None) -> Deployment:
    facts = facts_of(change)
    if not ctx.may(Permission.CHANGE_IMPLEMENT, change=facts):
        return Deployment()
    under_way = newest_run is not None and RunState(newest_run.state) in UNFINISHED
    plan = uow.plans.current(change.id)
    return Deployment(
        may_deploy="start" in out.available_actions and not under_way, plan=plan.filename if plan else "",
        may_override=facts.type is ChangeType.EMERGENCY and ctx.may(Permission.GATE_OVERRIDE),
        may_roll_back=under_way and RunState(newest_run.state) in _ROLLBACK_FROM)


def may_edit(ctx: Context, change) -> bool:
    return change.state == State.DRAFT.value and ctx.may(Permission.CHANGE_MANAGE, change=facts_of(change))


def may_comment(ctx: Context, change) -> bool:
    return ctx.may(Permission.CHANGE_READ, change=facts_of(change))


def may_sign_off(ctx: Context, change) -> bool:
    """UAT sign-off is offered while the change is open, has test evidence and is not signed off yet."""
    facts = facts_of(change)
    return (facts.state not in TERMINAL_STATES and facts.evidence_count > 0 and not facts.uat_signed_off
            and ctx.may(Permission.UAT_SIGNOFF, change=facts))


def runs_of(uow: UnitOfWork, change) -> list[RunOut]:
    """The change's deployment runs, newest first, without their steps (the change page lists them); read as
    plain records (db/repositories/web_reads.py), not ORM objects."""
    return [runs.run_out(r) for r in reversed(uow.web_reads.runs_for(change.id))]


REFRESH_SECONDS = 5  # how often the run page reloads itself while the run is active, when asked to (no script)
LIVE_SECONDS = 2  # how often the run page's script (static/follow.js) asks for the live log


@dataclass
class RunPage:
    run: RunOut
    log: str  # as `changegate run log` prints it
    active: bool  # a worker is driving it: the page reloads every REFRESH_SECONDS


def run_page(uow: UnitOfWork, ctx: Context, ref: str) -> RunPage:
    """The change's newest run with its steps and log."""
    run = runs.show_run(uow, ctx, ref)
    return RunPage(run=run, log=runs.log_text(run), active=RunState(run.state) in ACTIVE)
