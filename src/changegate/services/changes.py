"""Use cases of the change record: create, edit, move through the lifecycle, approve, attach, read.

Each function loads, asks the core, writes the record and its audit event in
the caller's unit of work, and returns the boundary view. Nothing here commits.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

from ..core.changes import lifecycle
from ..core.changes.approvals import approval_status, check_approval
from ..core.audit import AuditRecord
from ..core.changes.entities import TERMINAL_STATES, ApprovalDecision, ChangeType, State, format_ref
from ..core.decisions import Decision, Reason
from ..core.errors import ChangegateError, Conflict, InvalidInput, NotFound, Refused
from ..core.changes.lifecycle import Action
from ..core.policy.model import Permission, Policy
from ..db.models import Approval, Change, Comment, Evidence
from ..db.uow import UnitOfWork
from ..schemas.changes import (
    ChangeFilter,
    ApprovalIn,
    AssessIn,
    AuditEventOut,
    ChangeCreate,
    ChangeOut,
    ChangePage,
    ChangeUpdate,
    CommentIn,
    EvidenceOut,
    TransitionIn,
)
from .context import Context
from .read_model import ReadModel
from . import cmdb_changes, cmdb_names, schedule
from .tokens import authenticate, check_token, token_hash
from .lookup import load, parse_ref
from .views import change_out, change_summary_out, facts_of, snapshot

# Which permission each lifecycle action needs (one table, read by every adapter through here).
ACTION_PERMISSION: dict[Action, Permission] = {
    Action.SUBMIT: Permission.CHANGE_MANAGE,
    Action.WITHDRAW: Permission.CHANGE_MANAGE,
    Action.CANCEL: Permission.CHANGE_MANAGE,
    Action.ASSESS: Permission.CHANGE_ASSESS,
    Action.REJECT: Permission.CHANGE_ASSESS,
    Action.SCHEDULE: Permission.CHANGE_SCHEDULE,
    Action.RESCHEDULE: Permission.CHANGE_SCHEDULE,
    Action.UNSCHEDULE: Permission.CHANGE_SCHEDULE,
    Action.START: Permission.CHANGE_IMPLEMENT,
    Action.COMPLETE: Permission.CHANGE_IMPLEMENT,
    Action.FAIL: Permission.CHANGE_IMPLEMENT,
    Action.ROLL_BACK: Permission.CHANGE_IMPLEMENT,
}

EVIDENCE_KINDS = ("test_log", "screenshot", "test_report", "rollback_test", "deployment_log", "sql_check",
                  "sql_schema", "sql_deploy", "sql_rollback", "sql_verify", "other")
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}$")


def _entity(change: Change) -> str:
    return f"change:{change.id}"


def _check_version(change: Change, expected: int | None) -> None:
    if expected is not None and expected != change.row_version:
        raise Conflict(
            f"{format_ref(change.id)} changed meanwhile (you read version {expected}, it is now "
            f"{change.row_version}, state {change.state}); reload it and try again"
        )


def _refuse(ctx: Context, change: Change, action: str, message: str, decision: Decision) -> Refused:
    err = Refused(message, reasons=decision.reasons)
    err.audit = AuditRecord(
        actor=ctx.actor.id, action=f"change.{action}.refused", entity=_entity(change),
        before={"state": change.state}, detail={"reasons": [r.to_dict() for r in decision.reasons]},
    )
    return err


def _audit(uow: UnitOfWork, ctx: Context, action: str, change: Change, before: dict | None,
           detail: dict | None = None) -> None:
    uow.audit.append(
        AuditRecord(actor=ctx.actor.id, action=action, entity=_entity(change), before=before,
                    after=snapshot(change), detail=detail),
        ctx.now,
    )




# --- create and edit --------------------------------------------------------------------------


def create_change(uow: UnitOfWork, ctx: Context, data: ChangeCreate) -> ChangeOut:
    policy = ctx.policy
    if data.environment not in policy.environments:
        raise InvalidInput(
            f"unknown environment {data.environment!r} (known: {', '.join(policy.environments)})", field="environment"
        )
    ctx.require(Permission.CHANGE_CREATE, environment=data.environment)
    fields = data.model_dump(exclude={"template", "rollback_plan", "estimated_downtime", "items", "version"})
    items = list(dict.fromkeys(data.items))  # drop duplicates, keep order
    rollback = data.rollback_plan
    downtime = data.estimated_downtime
    template_id = None
    if data.template is not None or data.type is ChangeType.STANDARD:
        template = policy.template(data.template or "")
        if template is None:
            known = ", ".join(t.id for t in policy.standard_changes) or "none"
            raise InvalidInput(f"a standard change comes from a template; unknown template {data.template!r} "
                               f"(known: {known})", field="template")
        if data.environment not in template.environments:
            raise InvalidInput(f"template {template.id} is not approved for {data.environment} "
                               f"(only {', '.join(template.environments)})", field="environment")
        template_id = template.id
        fields.update(
            type=ChangeType.STANDARD, category=template.category, release_level=template.release_level,
            risk=template.risk, impact_analysis=data.impact_analysis or template.impact_analysis,
            implementation_plan=template.implementation_plan, verification_plan=template.verification_plan,
            description=data.description or template.description,
        )
        items = items or list(template.items)
        rollback = template.rollback_plan
        downtime = downtime if downtime is not None else template.estimated_downtime_minutes
    else:
        for name in ("category", "release_level"):
            if fields[name] is None:
                raise InvalidInput(f"{name} is required", field=name)
    cmdb_names.check_change_items(uow, items)  # real configuration items once the CMDB is in use
    change = Change(
        **fields,
        state=State.DRAFT.value,
        requester=ctx.actor.id,
        template_id=template_id,
        version_label=data.version,
        rollback_script=rollback.script if rollback else "",
        rollback_interpreter=rollback.interpreter if rollback else "sh",
        estimated_downtime_minutes=downtime,
        created_at=ctx.now,
        updated_at=ctx.now,
        # A new change has none of these yet: saying so spares the view three lazy loads (SELECTs).
        approvals=[], evidence=[], comments=[],
    )
    uow.changes.set_items(change, items)
    uow.changes.add(change)
    _audit(uow, ctx, "change.created", change, None)
    # A new change is a draft no one has read yet: no kept view (another change's JSON or gate facts, a
    # token) can show it, so creating one leaves them valid (services/read_model.py). Keep it true: a
    # creation that also changed something else (scheduling it, touching another change) must not say so.
    uow.leaves_kept_views_valid()
    return change_out(ctx, change)


def create_change_for_token(uow: UnitOfWork, policy: Policy, secret: str, data: ChangeCreate,
                            now: datetime) -> ChangeOut:
    """``create_change`` for an API token: the caller is authenticated inside the writing unit of work
    (one indexed read), not in a read transaction of its own first."""
    person = authenticate(uow, policy, secret, now)
    return create_change(uow, Context(policy=policy, actor=person, now=now), data)


_EDITABLE = frozenset({State.DRAFT})


def update_change(uow: UnitOfWork, ctx: Context, ref: str, data: ChangeUpdate) -> ChangeOut:
    change = load(uow, ref, for_update=True)
    _check_version(change, data.expected_version)
    facts = facts_of(change)
    ctx.require(Permission.CHANGE_MANAGE, change=facts)
    if State(change.state) not in _EDITABLE:
        raise _refuse(ctx, change, "edit", f"cannot edit {facts.ref}: it is {change.state}; only drafts are edited "
                      "(withdraw a submitted change first)",
                      Decision.deny(Reason("not_draft", f"the change is {change.state}")))
    before = snapshot(change)
    updates = data.model_dump(exclude_unset=True, exclude={"expected_version", "rollback_plan", "items",
                                                             "estimated_downtime", "version"})
    for name, value in updates.items():
        if value is None and name in ("title", "category", "release_level", "risk"):
            raise InvalidInput(f"{name} cannot be empty", field=name)
        setattr(change, name, value)
    sent = data.model_fields_set
    if "rollback_plan" in sent:
        change.rollback_script = data.rollback_plan.script if data.rollback_plan else ""
        change.rollback_interpreter = data.rollback_plan.interpreter if data.rollback_plan else "sh"
    if "estimated_downtime" in sent:
        change.estimated_downtime_minutes = data.estimated_downtime
    if "version" in sent:
        change.version_label = data.version
    if "items" in sent:
        cmdb_names.check_change_items(uow, list(dict.fromkeys(data.items or [])))
        uow.changes.set_items(change, list(dict.fromkeys(data.items or [])))
    uow.changes.touch(change, ctx.now)
    uow.session.flush()
    _audit(uow, ctx, "change.edited", change, before)
    return change_out(ctx, change)


# --- lifecycle ---------------------------------------------------------------------------------


def _apply(uow: UnitOfWork, ctx: Context, change: Change, action: Action, *, reason: str = "",
           schedule_decision: Decision | None = None, detail: dict | None = None) -> None:
    """Ask the lifecycle table, then write the new state and its audit event together."""
    facts = facts_of(change)
    result = lifecycle.apply(facts, action, ctx.policy, reason=reason, schedule_decision=schedule_decision)
    if not result.allowed:
        raise _refuse(ctx, change, action.value, lifecycle.refusal_message(facts, action, result.decision),
                      result.decision)
    before = snapshot(change)
    change.state = result.target.value
    if action is Action.START:
        change.implemented_at = ctx.now
        if change.type == ChangeType.EMERGENCY.value and not approval_status(ctx.policy, facts).complete:
            change.retro_approval_due = lifecycle.retro_approval_deadline(ctx.now, ctx.policy)
    if result.target in TERMINAL_STATES:
        change.closed_at = ctx.now
    uow.changes.touch(change, ctx.now)
    uow.session.flush()
    _audit(uow, ctx, f"change.{action.value}", change, before,
           {**({"reason": reason} if reason else {}), **(detail or {})} or None)


def transition(uow: UnitOfWork, ctx: Context, ref: str, body: TransitionIn) -> ChangeOut:
    """Move a change by one lifecycle action. Scheduling checks the slot against the schedule
    (windows, blackouts, freezes) and other changes (conflicts)."""
    change = load(uow, ref, for_update=True)
    _check_version(change, body.expected_version)
    action = Action(body.action)
    ctx.require(ACTION_PERMISSION[action], change=facts_of(change))
    decision, detail = None, {}
    if action is Action.START:
        detail = _gate_on_start(uow, ctx, change, body.override_reason)
    if action in (Action.SCHEDULE, Action.RESCHEDULE):
        if body.planned_start is not None:
            change.planned_start = body.planned_start
        decision, detail = schedule.check_slot(uow, ctx, change, body.override_reason)
    _apply(uow, ctx, change, action, reason=body.reason, schedule_decision=decision, detail=detail)
    return change_out(ctx, change)


def _gate_on_start(uow: UnitOfWork, ctx: Context, change: Change, override_reason: str) -> dict:
    """The Final Checkout, enforced on start (see services.gate.check_start); an illegal move is left
    to the lifecycle's own refusal, which says more than the gate would."""
    if not lifecycle.apply(facts_of(change), Action.START, ctx.policy).allowed:
        return {}
    from . import gate  # imported here: gate → sqlcheck → changes would be an import cycle

    return gate.check_start(uow, ctx, change, override_reason)


def assess(uow: UnitOfWork, ctx: Context, ref: str, body: AssessIn) -> ChangeOut:
    """Record the review (readiness, risk, emergency plan) and move the change to assessed.

    A change that needs no approval under the matrix is authorized at once.
    """
    change = load(uow, ref, for_update=True)
    _check_version(change, body.expected_version)
    ctx.require(Permission.CHANGE_ASSESS, change=facts_of(change))
    if body.risk is not None:
        change.risk = body.risk.value
    for name in ("readiness_analysis", "risk_analysis", "emergency_plan"):
        if getattr(body, name):
            setattr(change, name, getattr(body, name))
    raised = cmdb_changes.apply_risk_floor(uow, ctx, change)  # the policy's floor for the impact (issue 15)
    _apply(uow, ctx, change, Action.ASSESS, reason=body.reason, detail=raised)
    _authorize_if_complete(uow, ctx, change)
    return change_out(ctx, change)


def _authorize_if_complete(uow: UnitOfWork, ctx: Context, change: Change) -> None:
    facts = facts_of(change)
    if facts.state is State.ASSESSED and approval_status(ctx.policy, facts).complete:
        _apply(uow, ctx, change, Action.AUTHORIZE, detail={"by": "approval matrix complete"})


def decide_approval(uow: UnitOfWork, ctx: Context, ref: str, body: ApprovalIn) -> ChangeOut:
    change = load(uow, ref, for_update=True)
    _check_version(change, body.expected_version)
    facts = facts_of(change)
    ctx.require(Permission.CHANGE_APPROVE, change=facts)
    verdict = check_approval(ctx.policy, facts, ctx.actor, body.role)
    problems = list(verdict.reasons)
    if body.decision is ApprovalDecision.REJECTED and not body.reason.strip():
        problems.append(Reason("missing_reason", "a rejection needs a reason"))
    if problems:
        verb = "approve" if body.decision is ApprovalDecision.APPROVED else "reject"
        decision = Decision.deny(*problems)
        raise _refuse(ctx, change, verb, f"cannot {verb} {facts.ref} as {body.role}: "
                      f"{decision.summary()}", decision)
    before = snapshot(change)
    retroactive = change.type == ChangeType.EMERGENCY.value and change.implemented_at is not None
    uow.changes.add_approval(Approval(
        change=change, role=body.role, approver=ctx.actor.id, decision=body.decision.value,
        reason=body.reason, retroactive=retroactive, created_at=ctx.now,
    ))
    uow.changes.touch(change, ctx.now)
    uow.session.flush()
    _audit(uow, ctx, f"approval.{body.decision.value}", change, before,
           {"role": body.role, "reason": body.reason, "retroactive": retroactive})
    if body.decision is ApprovalDecision.REJECTED:
        if State(change.state) in (State.SUBMITTED, State.ASSESSED):
            _apply(uow, ctx, change, Action.REJECT, reason=body.reason)
    else:
        _authorize_if_complete(uow, ctx, change)
    return change_out(ctx, change)


# --- evidence, sign-off, comments ---------------------------------------------------------------


def _check_filename(name: str) -> str:
    problems = []
    if not name or not name.strip():
        problems.append("is empty")
    if len(name) > 255:
        problems.append("is longer than 255 characters")
    if "/" in name or "\\" in name:
        problems.append("contains a path separator; send the bare file name")
    if name in (".", "..") or name.startswith(".."):
        problems.append("is a relative path")
    if any(ord(c) < 32 or ord(c) == 0x7F for c in name):
        problems.append("contains control characters")
    if problems:
        raise InvalidInput(f"file name {name!r} " + "; ".join(problems), field="filename")
    return name


def attach_evidence(uow: UnitOfWork, ctx: Context, ref: str, *, filename: str, content: bytes,
                    media_type: str | None, kind: str = "test_log", description: str = "",
                    max_bytes: int) -> EvidenceOut:
    change = load(uow, ref, for_update=True)
    facts = facts_of(change)
    ctx.require(Permission.EVIDENCE_ATTACH, change=facts)
    _check_filename(filename)
    if kind not in EVIDENCE_KINDS:
        raise InvalidInput(f"unknown evidence kind {kind!r} (one of {', '.join(EVIDENCE_KINDS)})", field="kind")
    if not content:
        raise InvalidInput(f"evidence file {filename!r} is empty", field="file")
    if len(content) > max_bytes:
        raise InvalidInput(f"evidence file {filename!r} is {len(content)} bytes; the limit is {max_bytes}",
                           field="file")
    media_type = (media_type or "application/octet-stream").split(";")[0].strip()
    if not _MEDIA_TYPE.match(media_type):
        raise InvalidInput(f"{media_type!r} is not a media type", field="media_type")
    if facts.state in TERMINAL_STATES and facts.type is not ChangeType.EMERGENCY:
        raise _refuse(ctx, change, "evidence.attach", f"cannot attach evidence to {facts.ref}: it is {change.state}",
                      Decision.deny(Reason("closed", f"the change is {change.state}")))
    evidence = uow.evidence.add(Evidence(
        change=change, kind=kind, filename=filename, media_type=media_type, size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), description=description, uploaded_by=ctx.actor.id,
        uploaded_at=ctx.now,
    ), content)
    before = snapshot(change)
    uow.changes.touch(change, ctx.now)
    uow.session.flush()
    _audit(uow, ctx, "evidence.attached", change, before,
           {"evidence_id": evidence.id, "filename": filename, "sha256": evidence.sha256, "size": evidence.size,
            "kind": kind})
    return EvidenceOut.model_validate(evidence)


def evidence_content(uow: UnitOfWork, ctx: Context, ref: str, evidence_id: int) -> tuple[EvidenceOut, bytes]:
    change = load(uow, ref)
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    evidence = uow.evidence.get(change.id, evidence_id)
    if evidence is None:
        raise NotFound(f"{format_ref(change.id)} has no evidence {evidence_id}")
    return EvidenceOut.model_validate(evidence), uow.evidence.content(evidence.id)


def sign_off_uat(uow: UnitOfWork, ctx: Context, ref: str, note: str = "") -> ChangeOut:
    change = load(uow, ref, for_update=True)
    facts = facts_of(change)
    ctx.require(Permission.UAT_SIGNOFF, change=facts)
    problems = []
    if facts.evidence_count == 0:
        problems.append(Reason("missing_test_evidence", "no test evidence to sign off"))
    if facts.uat_signed_off:
        problems.append(Reason("already_signed_off", f"already signed off by {change.uat_signoff_by}"))
    if facts.state in TERMINAL_STATES:
        problems.append(Reason("closed", f"the change is {change.state}"))
    if problems:
        decision = Decision.deny(*problems)
        raise _refuse(ctx, change, "uat_signoff", f"cannot sign off UAT for {facts.ref}: {decision.summary()}",
                      decision)
    before = snapshot(change)
    change.uat_signoff_by = ctx.actor.id
    change.uat_signoff_at = ctx.now
    change.uat_signoff_note = note
    uow.changes.touch(change, ctx.now)
    uow.session.flush()
    _audit(uow, ctx, "change.uat_signed_off", change, before, {"note": note} if note else None)
    return change_out(ctx, change)


def add_comment(uow: UnitOfWork, ctx: Context, ref: str, body: CommentIn) -> ChangeOut:
    change = load(uow, ref, for_update=True)
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    uow.changes.add_comment(Comment(change=change, author=ctx.actor.id, body=body.body, created_at=ctx.now))
    uow.changes.touch(change, ctx.now)
    uow.session.flush()
    uow.audit.append(AuditRecord(actor=ctx.actor.id, action="comment.added", entity=_entity(change),
                                 detail={"body": body.body}), ctx.now)
    return change_out(ctx, change)


# --- reading -----------------------------------------------------------------------------------


def get_change(uow: UnitOfWork, ctx: Context, ref: str) -> ChangeOut:
    change = load(uow, ref)
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    return change_out(ctx, change, schedule_problems=schedule.slot_problems(uow, ctx, change)).model_copy(
        update={"impact": cmdb_changes.impact_summary(uow, ctx, change)})  # the CMDB's, in brief (issue 15)


def read_change(uow: UnitOfWork, policy: Policy, secret: str, ref: str, now: datetime, *,
                quick_only: bool = False) -> ChangeOut | None:
    """``get_change`` for an API token, authenticated in the same single statement that reads the
    change (the API's hot read path: one statement for a change not scheduled, see ``authenticated_view``).
    ``quick_only``: None instead of the answer when its CMDB impact needs a search (an event loop asks so)."""
    found = _read_change(uow, policy, secret, ref, now, quick_only)
    return None if found is None else found[0]


def read_change_json(uow: UnitOfWork, policy: Policy, secret: str, ref: str, now: datetime, *,
                     quick_only: bool = False, kept: ReadModel | None = None) -> bytes | None:
    """``read_change`` as the JSON the API answers, kept in ``kept`` under the read version it was read at
    (services/read_model.py), so the next requests may be answered without reading it again."""
    found = _read_change(uow, policy, secret, ref, now, quick_only)
    if found is None:
        return None
    out, view, ctx = found
    body = out.model_dump_json().encode()
    if kept is not None:
        kept.keep(policy, view.version, secret, view.token, out.id, body, facts_of(view.change), ctx.now)
    return body


def _read_change(uow: UnitOfWork, policy: Policy, secret: str, ref: str, now: datetime, quick_only: bool):
    ctx, view = authenticated(uow, policy, secret, ref, now, read_only=True)
    change = view.change
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    if quick_only:
        known, impact = cmdb_changes.cached_impact_summary(uow, ctx, change)
        if not known:
            return None
    else:
        impact = cmdb_changes.impact_summary(uow, ctx, change)  # the CMDB's, in brief (issue 15)
    out = change_out(ctx, change, schedule_problems=schedule.slot_problems(uow, ctx, change)).model_copy(
        update={"impact": impact})
    return out, view, ctx


def authenticated_view(uow: UnitOfWork, policy: Policy, secret: str, ref: str, now: datetime, *,
                       read_only: bool = False) -> tuple[Context, Change]:
    """The caller's context and the change (a read-only record shaped like the model), from one
    statement. Authentication comes first: a bad token is 401 whatever the reference."""
    ctx, view = authenticated(uow, policy, secret, ref, now, read_only=read_only)
    return ctx, view.change


def authenticated(uow: UnitOfWork, policy: Policy, secret: str, ref: str, now: datetime, *,
                  read_only: bool = False):
    """``authenticated_view`` with the whole view (the token row and the read version too)."""
    try:
        change_id, bad_ref = parse_ref(ref), None
    except ChangegateError as err:  # decided after authentication, which still runs (id 0 exists never)
        change_id, bad_ref = 0, err
    view = uow.changes.view(change_id, token_hash(secret), read_only=read_only)
    person = check_token(view.token if view else None, policy, now)
    if bad_ref is not None:
        raise bad_ref
    if view.change is None:
        raise NotFound(f"no change {format_ref(change_id)}")
    return Context(policy=policy, actor=person, now=now), view


def list_changes(uow: UnitOfWork, ctx: Context, f: ChangeFilter) -> ChangePage:
    ctx.require(Permission.CHANGE_READ)
    f.refuse_unknown_environments(ctx.policy.environments)
    if f.planned_from is not None and f.planned_before is not None and f.planned_before <= f.planned_from:
        raise InvalidInput("planned_before must be later than planned_from: no change could match",
                           field="planned_before")
    rows, total = uow.changes.search(f)
    return ChangePage(items=[change_summary_out(ctx, c) for c in rows], total=total, limit=f.limit, offset=f.offset)


def history(uow: UnitOfWork, ctx: Context, ref: str) -> list[AuditEventOut]:
    change = load(uow, ref)
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    return [
        AuditEventOut(seq=e.seq, at=e.at, actor=e.actor, action=e.action, entity=e.entity,
                      before=json.loads(e.before), after=json.loads(e.after), detail=json.loads(e.detail),
                      hash=e.hash)
        for e in uow.audit.for_entity(_entity(change))
    ]

