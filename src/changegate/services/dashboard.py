"""What the web pages show: the dashboard, the approval queue and the whole change page.

Read-only use cases built on the same services as the API (changes, gate, schedule, sqlcheck);
what a person may do on a change is decided here, so a page offers only allowed actions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..core.changes.approvals import APPROVAL_STATES, check_approval
from ..core.changes.entities import TERMINAL_STATES, ChangeType, EmergencyStatus, Risk, State, format_ref
from ..core.errors import NotFound
from ..core.changes.lifecycle import Action
from ..core.policy.model import Permission
from ..db.models import Change
from ..db.uow import UnitOfWork
from ..schemas.changes import AuditEventOut, ChangeOut, ChangeSummaryOut
from ..schemas.gate import GateOut
from ..schemas.schedule import CalendarEntryOut
from . import changes, gate, schedule, sqlcheck, web_changes, web_schedule
from .context import Context
from .lookup import parse_ref
from .views import change_out, change_summary_out, facts_of
from .web_cache import PageParts, RecordCache

DASHBOARD_SHOWN = 20  # rows of the "waiting for your approval" list; the queue has them all
_SCAN = 500  # changes read per list on the dashboard; more waiting than that is a process problem


def approvable_roles(ctx: Context, change: Change) -> list[str]:
    """The roles in which the actor may approve or reject this change now (none for their own)."""
    if not ctx.may(Permission.CHANGE_APPROVE):
        return []
    kept = getattr(change, "roles_for", None)  # RecordCache's records keep the answer per person and policy
    key = (id(ctx.policy), ctx.actor.id)
    if kept is not None and key in kept:
        return kept[key]
    facts = getattr(change, "facts", None) or facts_of(change)
    roles = [role for role in ctx.actor.roles if check_approval(ctx.policy, facts, ctx.actor, role).allowed]
    if kept is not None:
        kept[key] = roles
    return roles


def allowed_actions(ctx: Context, change: Change, out: ChangeOut) -> list[str]:
    """Lifecycle actions the state allows and the actor may take on this change (the requester may
    submit or withdraw their own; the deploy rights of its environment count)."""
    facts = facts_of(change)
    return [a for a in out.available_actions if Action(a) in changes.ACTION_PERMISSION
            and ctx.may(changes.ACTION_PERMISSION[Action(a)], change=facts)]


def _waiting(uow: UnitOfWork, ctx: Context, kept: RecordCache | None = None) -> list:
    """Changes in a state where approvals are recorded: normal ones assessed, emergencies after submission.
    Plain records (db/repositories/web_reads.py), not ORM objects: hundreds may be looked at per page. With
    ``kept`` (the pages' per-process RecordCache), only their versions are read, and the records of the
    changes written since they were kept."""
    emergency_states = sorted(s.value for s in APPROVAL_STATES[ChangeType.EMERGENCY])
    if kept is not None:
        versions = {v[0]: v for v in uow.web_reads.change_versions(
            types=[ChangeType.EMERGENCY.value], states=emergency_states, limit=_SCAN)}
        versions.update({v[0]: v for v in uow.web_reads.change_versions(states=[State.ASSESSED.value], limit=_SCAN)})
        return kept.records(uow, sorted(versions.values()))
    normal = uow.web_reads.change_records(states=[State.ASSESSED.value], limit=_SCAN)
    urgent = uow.web_reads.change_records(types=[ChangeType.EMERGENCY.value], states=emergency_states, limit=_SCAN)
    seen = {c.id: c for c in urgent}
    seen.update({c.id: c for c in normal})
    return sorted(seen.values(), key=lambda c: c.id)


def _newest(uow: UnitOfWork, kept: RecordCache | None, **where) -> list:
    """The newest changes matching ``where`` as plain records; with ``kept``, only those written since read."""
    if kept is None:
        return uow.web_reads.change_records(**where)
    return kept.records(uow, uow.web_reads.change_versions(**where))


@dataclass
class Dashboard:
    waiting_for_me: list[ChangeSummaryOut]
    mine: list[ChangeSummaryOut]
    overdue_emergencies: list[ChangeSummaryOut]
    today: list[CalendarEntryOut]
    week: list[CalendarEntryOut]
    restrictions_now: list[CalendarEntryOut]  # blackouts and freezes in force now
    recent_failures: list[ChangeSummaryOut]
    waiting_count: int = 0  # all that wait for the actor; the dashboard lists the newest DASHBOARD_SHOWN


def dashboard(uow: UnitOfWork, ctx: Context, kept: RecordCache | None = None) -> Dashboard:
    ctx.require(Permission.CHANGE_READ)
    waiting = _waiting(uow, ctx, kept)
    mine = _newest(uow, kept, requester=ctx.actor.id, limit=20)
    emergencies = [change_summary_out(ctx, c) for c in waiting if c.type == ChangeType.EMERGENCY.value]
    failures = _newest(uow, kept, states=[State.FAILED.value, State.ROLLED_BACK.value], limit=10)
    for_me = [c for c in waiting if approvable_roles(ctx, c)]
    start = _plant_midnight(ctx)
    ahead = web_schedule.week_ahead(uow, ctx, start, start + timedelta(days=7))
    scheduled = ahead.scheduled
    return Dashboard(
        waiting_for_me=[change_summary_out(ctx, c) for c in for_me[-DASHBOARD_SHOWN:][::-1]],
        mine=[change_summary_out(ctx, c) for c in mine],
        overdue_emergencies=[e for e in emergencies if e.emergency_status is EmergencyStatus.OVERDUE],
        today=[e for e in scheduled if e.start < start + timedelta(days=1)],
        week=scheduled,
        restrictions_now=ahead.restrictions_now,
        recent_failures=[change_summary_out(ctx, c) for c in failures],
        waiting_count=len(for_me),
    )


def _plant_midnight(ctx: Context) -> datetime:
    """Where "today" begins: midnight on the plant's clock (the policy's time zone), not UTC's. Adding days
    to it keeps the wall clock, so "the next seven days" are seven plant days, across DST too."""
    zone = ZoneInfo(ctx.policy.schedule.timezone)
    return datetime.combine(ctx.now.astimezone(zone).date(), time(), zone)


@dataclass
class QueueItem:
    change: ChangeOut
    roles: list[str]  # the roles the actor may decide in
    gate: GateOut
    sql_check: sqlcheck.SqlCheckFact | None


QUEUE_SHOWN = 20  # each item costs a gate evaluation: the queue shows the oldest, with the count of the rest


@dataclass
class Queue:
    items: list[QueueItem]
    waiting: int  # how many changes wait for the actor in all, shown or not


def approval_queue(uow: UnitOfWork, ctx: Context, kept: RecordCache | None = None) -> Queue:
    """The changes waiting for a decision the actor may take (oldest first), with what they decide on."""
    ctx.require(Permission.CHANGE_READ)
    mine = [(record, roles) for record in _waiting(uow, ctx, kept) if (roles := approvable_roles(ctx, record))]
    roles_of = dict((record.id, roles) for record, roles in mine[:QUEUE_SHOWN])
    shown = (uow.web_reads.change_records(ids=list(roles_of), limit=QUEUE_SHOWN, full=True, comments=False)[::-1]
             if roles_of else [])  # the queue shows no comments: a change may hold hundreds
    return Queue([QueueItem(change_out(ctx, change), roles_of[change.id], *_gate(uow, ctx, change))
                  for change in shown], len(mine))


def _gate(uow: UnitOfWork, ctx: Context, change: Change) -> tuple[GateOut, sqlcheck.SqlCheckFact | None]:
    """The gate's verdict as if deployed now, and the stored SQL check it read (one read serves both).
    Shown, not asked by a pipeline: not audited as a gate evaluation."""
    facts = gate.facts_for(uow, ctx, change, change.environment, ctx.now)
    verdict = gate.verdict_of(ctx, change, facts)
    return (GateOut.from_verdict(verdict, ctx.now, ctx.policy.schedule.timezone_for(change.environment)),
            facts.sql_check)


@dataclass
class ChangePage:
    change: ChangeOut
    history: list[AuditEventOut]
    gate: GateOut
    sql_check: sqlcheck.SqlCheckFact | None
    approve_roles: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    previews: dict[int, str] = field(default_factory=dict)  # evidence id -> its first PREVIEW_BYTES, as text
    sql_report: dict | None = None  # the newest SQL check's report, as stored
    may_attach: bool = False
    may_edit: bool = False
    may_comment: bool = False
    may_sign_off: bool = False
    runs: list = field(default_factory=list)  # RunOut, newest first
    impact: object | None = None  # ImpactOut: the CMDB's impact with its paths (None without a CMDB)
    deployment: web_changes.Deployment = field(default_factory=web_changes.Deployment)
    risks: tuple[str, ...] = tuple(r.value for r in Risk)
    evidence_kinds: tuple[str, ...] = changes.EVIDENCE_KINDS


PREVIEW_BYTES = 64 * 1024
_TEXT_TYPES = ("application/json", "application/sql", "application/x-sql")
_TEXT_SUFFIXES = (".log", ".sql", ".txt", ".json", ".csv", ".md")


def _is_text(e) -> bool:
    return e.media_type.startswith("text/") or e.media_type in _TEXT_TYPES or e.filename.lower().endswith(_TEXT_SUFFIXES)


def _previews(uow: UnitOfWork, change: Change) -> tuple[dict[int, str], dict | None]:
    """The first PREVIEW_BYTES of each text evidence (logs, SQL, reports), read in one statement, and the
    newest SQL check's whole report (one more read only when it is longer than its preview)."""
    heads = uow.evidence.heads([e.id for e in change.evidence if _is_text(e)], PREVIEW_BYTES)
    report_row = max((e for e in change.evidence if e.kind == "sql_check"), key=lambda e: e.id, default=None)
    report = None
    if report_row is not None:
        raw = heads.get(report_row.id) if report_row.size <= PREVIEW_BYTES else None
        try:
            report = json.loads(raw if raw is not None else uow.evidence.content(report_row.id))
        except ValueError:
            report = None  # not a report changegate wrote: shown as plain evidence only
    return {i: head.decode("utf-8", errors="replace") for i, head in heads.items()}, report


def _event_out(e) -> AuditEventOut:
    return AuditEventOut(seq=e.seq, at=e.at, actor=e.actor, action=e.action, entity=e.entity,
                         before=json.loads(e.before), after=json.loads(e.after), detail=json.loads(e.detail), hash=e.hash)


def change_page(uow: UnitOfWork, ctx: Context, ref: str, kept: PageParts | None = None) -> ChangePage:
    """Everything the change page shows, from one read of the change (get_change and history each
    load it again). With ``kept`` (the pages' per-process PageParts), the record with its previews is read
    only when the change was written since, and of its history only the newer events."""
    change_id = parse_ref(ref)
    if kept is not None:
        change, (previews, report) = kept.record(uow, change_id, lambda record: _previews(uow, record))
    else:
        change = uow.web_reads.change_record(change_id)  # a plain record: the page only reads it
    if change is None:
        raise NotFound(f"no change {format_ref(change_id)}")
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    out = change_out(ctx, change, schedule_problems=schedule.slot_problems(uow, ctx, change))
    entity = f"change:{change.id}"
    history = (kept.history(uow, entity, _event_out) if kept is not None
               else [_event_out(e) for e in uow.audit.for_entity(entity)])
    if kept is None:
        previews, report = _previews(uow, change)
    gate_out, sql_check = _gate(uow, ctx, change)
    runs = web_changes.runs_of(uow, change)
    return ChangePage(
        change=out, history=history, gate=gate_out, sql_check=sql_check,
        approve_roles=approvable_roles(ctx, change), actions=allowed_actions(ctx, change, out),
        previews=previews, sql_report=report,
        may_attach=out.state not in TERMINAL_STATES
        and ctx.may(Permission.EVIDENCE_ATTACH, change=facts_of(change)),
        may_edit=web_changes.may_edit(ctx, change), may_comment=web_changes.may_comment(ctx, change),
        may_sign_off=web_changes.may_sign_off(ctx, change), runs=runs,
        impact=web_changes.impact_of(uow, ctx, change),
        deployment=web_changes.deployment(uow, ctx, change, out, runs[0] if runs else None),
    )
