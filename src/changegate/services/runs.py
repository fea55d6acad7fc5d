"""Deployment runs: attach a plan, deploy (the gate first), drive a run on a worker, roll back, confirm a
manual step, show a run. See docs/runner.md.

``create_run`` and the other use cases work in the caller's unit of work like every service. ``drive`` is
the exception: it is a worker's loop, so it opens one short unit of work per step (through ``DbJournal``),
and a run survives the process that drives it.
"""

from __future__ import annotations

import hashlib

from ..core.changes.entities import TERMINAL_STATES, State, format_ref
from ..core.changes.lifecycle import Action
from ..core.decisions import Reason
from ..core.errors import ChangegateError, Forbidden, InvalidInput, NotFound, Refused
from ..core.audit import AuditRecord
from ..core.policy.model import Permission, Person
from ..core.runs.machine import (
    ACTIVE, CHANGE_ACTION, UNFINISHED, Event, RunState, StepState, next_state,
)
from ..db.models import Change, DeploymentPlan, DeploymentRun
from ..db.uow import UnitOfWork
from ..runner.engine import Engine, describe
from ..runner.journal import LeaseLost
from ..runner.stop import Stop
from ..schemas.changes import TransitionIn
from ..schemas.runs import CommitIn, ConfirmIn, DeployIn, DryRunOut, PlanIn, PlanOut, RollbackIn, RunOut, StepOut
from . import changes
from .context import Context
from .lookup import load
from .runs_journal import DbJournal, OnEvent, audit_run, downtime
from .runs_plan import lease_for, parse_plan, settings_for
from .runtime import Runtime
from .views import facts_of

NEEDS_WORKER = frozenset(s.value for s in ACTIVE)  # a run in these states, without a live lease, needs a worker


# --- plans -----------------------------------------------------------------------------------------


def attach_plan(uow: UnitOfWork, ctx: Context, ref: str, body: PlanIn) -> PlanOut:
    # Checked (and its Prometheus servers asked) before the change row is locked: no lock held over the network.
    parse_plan(body.text, body.filename, ctx.policy, probe=True)
    change = load(uow, ref, for_update=True)
    ctx.require(Permission.CHANGE_IMPLEMENT, change=facts_of(change))
    return _attach(uow, ctx, change, body)


def _attach(uow: UnitOfWork, ctx: Context, change: Change, body: PlanIn) -> PlanOut:
    """Store a plan already checked (``parse_plan``): refused with file:line problems before anything is stored."""
    if State(change.state) in TERMINAL_STATES:
        raise Refused(f"cannot attach a plan to {format_ref(change.id)}: it is {change.state}")
    if uow.runs.unfinished_for_change(change.id, [s.value for s in UNFINISHED]) is not None:
        raise Refused(f"cannot replace the plan of {format_ref(change.id)}: a run of it is under way")
    digest = hashlib.sha256(body.text.encode()).hexdigest()
    plan = uow.plans.add(DeploymentPlan(change_id=change.id, filename=body.filename, text=body.text, sha256=digest,
                                        attached_by=ctx.actor.id, attached_at=ctx.now))
    uow.audit.append(AuditRecord(actor=ctx.actor.id, action="deploy.plan_attached", entity=f"change:{change.id}",
                                 detail={"plan": plan.id, "filename": body.filename, "sha256": digest}), ctx.now)
    return _plan_out(change, plan)


def get_plan(uow: UnitOfWork, ctx: Context, ref: str) -> PlanOut:
    change = load(uow, ref)
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    plan = uow.plans.current(change.id)
    if plan is None:
        raise NotFound(f"{format_ref(change.id)} has no deployment plan (attach one: changegate plan attach)")
    return _plan_out(change, plan)


def _plan_out(change: Change, plan: DeploymentPlan) -> PlanOut:
    return PlanOut(change=format_ref(change.id), id=plan.id, filename=plan.filename, sha256=plan.sha256,
                   attached_by=plan.attached_by, attached_at=plan.attached_at, text=plan.text)


# --- deploy ----------------------------------------------------------------------------------------


def create_run(uow: UnitOfWork, ctx: Context, ref: str, body: DeployIn, *, worker: str | None = None
               ) -> RunOut | DryRunOut:
    """Ask the gate (through the change's start, as ``change start`` does), start the change and queue its
    run; leased to ``worker`` when that process drives it itself. A dry run changes nothing. The plan is
    parsed once: a plan given here is checked (and, unless a dry run, attached) before the change is locked."""
    if not body.dry_run:  # a lease too short for this database refuses the run before anything changes
        lease = lease_for(ctx.policy, uow.runs.dialect()).lease
    given = parse_plan(body.plan.text, body.plan.filename, ctx.policy, probe=not body.dry_run) \
        if body.plan is not None else None
    change = load(uow, ref, for_update=True)
    rehearsal = body.rehearse_rollback
    if rehearsal:
        _check_rehearsal(ctx, change, body.environment)  # deploy rights where it rehearses
    else:
        ctx.require(Permission.CHANGE_IMPLEMENT, change=facts_of(change))
    if not rehearsal and body.environment != change.environment:
        raise InvalidInput(f"{format_ref(change.id)} is a change to {change.environment}, not {body.environment}",
                           field="environment")
    stored = _attach(uow, ctx, change, body.plan) if body.plan is not None and not body.dry_run else None
    plan_row = stored or _current_or_given(uow, change, body)
    plan = given or parse_plan(plan_row.text, plan_row.filename, ctx.policy)
    settings = settings_for(plan, ctx.policy, change.rollback_script, change.rollback_interpreter,
                            rehearsal=rehearsal)
    if body.dry_run:
        return DryRunOut(change=format_ref(change.id), environment=body.environment, plan_sha256=plan_row.sha256,
                         lines=describe(plan, settings))
    if uow.runs.unfinished_for_change(change.id, [s.value for s in UNFINISHED]) is not None:
        raise Refused(f"{format_ref(change.id)} has a run under way already (changegate run show {format_ref(change.id)})")
    if not rehearsal:  # a rehearsal does not implement the change: it proves its rollback beforehand
        changes.transition(uow, ctx, ref, TransitionIn(action="start", override_reason=body.override_reason))
        _check_promotion(uow, ctx, change, plan)  # after the gate, which speaks first; a refusal undoes the start
    now = ctx.now
    run = uow.runs.add(DeploymentRun(
        change_id=change.id, environment=body.environment, state=RunState.QUEUED.value, rehearsal=rehearsal,
        plan_filename=plan_row.filename, plan_text=plan_row.text, plan_sha256=plan_row.sha256, actor=ctx.actor.id,
        artifact_sha256=plan.artifact.sha256 if plan.artifact else None,
        created_at=now, estimated_downtime_minutes=change.estimated_downtime_minutes, outcome="", notes=[]))
    if worker is not None:  # this process drives it itself
        uow.runs.set_lease(run, worker, now, lease)
    audit_run(uow, run, "run.created", now, {"environment": run.environment, "plan_sha256": run.plan_sha256,
                                             "worker": worker, "rehearsal": rehearsal})
    return run_out(run, change_id=change.id)


def _check_rehearsal(ctx: Context, change: Change, environment: str) -> None:
    """A rollback rehearsal runs on a non-production environment where the caller may deploy, before the change
    is implemented."""
    env = ctx.policy.environments.get(environment)
    if env is None:
        raise InvalidInput(f"unknown environment {environment!r}", field="environment")
    if env.production:
        raise InvalidInput(f"a rollback rehearsal runs before production, not on {environment}", field="environment")
    ctx.require(Permission.CHANGE_IMPLEMENT, environment=environment, entity=f"change:{change.id}")
    if State(change.state) in TERMINAL_STATES or State(change.state) is State.IMPLEMENTING:
        raise Refused(f"cannot rehearse the rollback of {format_ref(change.id)}: it is {change.state}")


def _check_promotion(uow: UnitOfWork, ctx: Context, change: Change, plan) -> None:
    """Seed 004: PROD takes only a build that already committed on the promotion environment (by checksum)."""
    deploy = ctx.policy.deploy
    env = ctx.policy.environments.get(change.environment)
    if not (deploy.promotion and env is not None and env.production and change.environment != deploy.promote_from):
        return
    if plan.artifact is None:
        problem = Reason("no_artifact", "the plan names no artifact (artifact: {name, sha256}), so its build cannot "
                         f"be traced to a successful run on {deploy.promote_from}")
    elif uow.runs.committed_with_artifact(deploy.promote_from, plan.artifact.sha256, RunState.COMMITTED.value) is None:
        problem = Reason("not_promoted", f"build {plan.artifact.name} (sha256 {plan.artifact.sha256[:12]}…) has no "
                         f"successful run on {deploy.promote_from}")
    else:
        return
    err = Refused(f"cannot deploy {format_ref(change.id)} to {change.environment}: {problem.message}",
                  reasons=(problem,))
    err.audit = AuditRecord(actor=ctx.actor.id, action="deploy.refused", entity=f"change:{change.id}",
                            detail={"reasons": [problem.to_dict()]})
    raise err


def _current_or_given(uow: UnitOfWork, change: Change, body: DeployIn):
    if body.plan is not None:  # a dry run of a plan not attached yet
        return DeploymentPlan(filename=body.plan.filename, text=body.plan.text,
                              sha256=hashlib.sha256(body.plan.text.encode()).hexdigest())
    plan = uow.plans.current(change.id)
    if plan is None:
        raise InvalidInput(f"{format_ref(change.id)} has no deployment plan: attach one (changegate plan attach "
                           f"{format_ref(change.id)} FILE) or give it with --plan", field="plan")
    return plan


# --- driving a run (a worker) ----------------------------------------------------------------------


def drive(rt: Runtime, run_id: int, worker: str, *, on_event: OnEvent | None = None) -> RunState:
    """Carry the run (leased to ``worker``) as far as it goes: to its end, or to a pause for a person. When
    this worker loses the lease, or stops (``runs_worker.stop_driving``), the command under way is killed and
    nothing is recorded as ended: whoever takes the run over decides by the durable rules."""
    from . import runs_worker  # it imports this module

    timing = runs_worker.timing(rt)
    with rt.uow(write=False) as uow:
        run = uow.runs.get(run_id)
        change = uow.changes.get(run.change_id, full=False)
        plan = parse_plan(run.plan_text, run.plan_filename, rt.policy)
        settings = settings_for(plan, rt.policy, change.rollback_script, change.rollback_interpreter,
                                rehearsal=run.rehearsal)
    journal = DbJournal(rt, run_id, worker, on_event=on_event, check_after=settings.check_after,
                        monitor_for=settings.monitor_for, lease=timing.lease,
                        finish_change=lambda uow, run: _finish_change(rt, uow, run))
    stop = Stop(kill_grace=timing.kill_grace)
    runs_worker.driving(rt, run_id, stop)
    try:
        keeper = journal.keep_lease(stop, timing)
    except LeaseLost:
        runs_worker.done_driving(run_id, stop)
        return RunState(_state_of(rt, run_id))
    except BaseException:  # a database error at the first renewal: this process no longer drives the run
        runs_worker.done_driving(run_id, stop)
        raise
    try:
        return Engine(plan, settings, journal, stop=stop, now=rt.clock).drive()
    except LeaseLost as lost:
        _stopped(rt, journal, stop, lost)
        return RunState(_state_of(rt, run_id))
    except Exception as exc:  # the run stays leased until its lease expires; say why, then let it surface
        try:
            journal.note(f"worker {worker} stopped on an error: {type(exc).__name__}: {exc}"[:2000])
        except Exception:  # noqa: BLE001 - the database itself may be what failed
            pass
        raise
    finally:
        keeper.close()
        runs_worker.done_driving(run_id, stop)


def _stopped(rt: Runtime, journal: DbJournal, stop: Stop, lost: LeaseLost) -> None:
    """The driver stopped: the lease was lost (nothing to do: another worker decides), or this worker stops
    while it still holds the lease: it says so on the run and gives the lease back, so the next worker takes
    the run over at once instead of after the lease."""
    if not stop.is_set():  # the lease was lost between two steps: the next holder decides
        return
    try:
        journal.release(f"worker {journal.worker} stopped driving the run: {stop.reason}")
    except Exception:  # noqa: BLE001 - lost lease or database: the lease expires by itself
        pass


def _state_of(rt: Runtime, run_id: int) -> str:
    with rt.uow(write=False) as uow:
        return uow.runs.get(run_id).state


# The identity a run's end is recorded under: the run moves the change because of what happened, not because
# somebody decided it now (the deployer's right to implement was checked when the run started). So the end
# never depends on the deployer still being in the policy file; the audit event names them (``deployed_by``).
RUNNER = Person(id="changegate.runner", name="changegate's deployment runner")


def _finish_change(rt: Runtime, uow: UnitOfWork, run: DeploymentRun) -> None:
    """The change follows its run: completed, rolled back, or failed (a failed rollback is never 'rolled back')."""
    if run.rehearsal:
        deployer = rt.policy.person(run.actor)  # evidence is attached in the deployer's name while they may
        _record_rehearsal(rt, uow, Context(policy=rt.policy, actor=deployer or RUNNER, now=rt.clock()), run)
        return
    _change_follows_run(uow, Context(policy=rt.policy, actor=RUNNER, now=rt.clock()), run)


def _change_follows_run(uow: UnitOfWork, ctx: Context, run: DeploymentRun) -> None:
    """A worker's run ended: the lifecycle moves the change (its rules still apply: a change moved by a person
    meanwhile stays), without asking for a person's permission again."""
    action = Action(CHANGE_ACTION[RunState(run.state)])
    reason = "" if action is Action.COMPLETE else (run.outcome or f"deployment run {run.id} ended {run.state}")
    change = load(uow, str(run.change_id), for_update=True)
    try:
        changes._apply(uow, ctx, change, action, reason=reason[:10_000],
                       detail={"run": run.id, "deployed_by": run.actor})
    except ChangegateError as exc:  # moved by a person meanwhile: the run's end is still recorded
        run.notes = [*run.notes, f"the change was not moved to follow the run: {exc.message}"]


def _change_follows(uow: UnitOfWork, ctx: Context, run: DeploymentRun) -> None:
    action = CHANGE_ACTION[RunState(run.state)]
    reason = "" if action == "complete" else (run.outcome or f"deployment run {run.id} ended {run.state}")
    try:
        changes.transition(uow, ctx, str(run.change_id), TransitionIn(action=action, reason=reason[:10_000]))
    except ChangegateError as exc:  # moved by a person meanwhile: the run's end is still recorded
        run.notes = [*run.notes, f"the change was not moved to follow the run: {exc.message}"]


def _record_rehearsal(rt: Runtime, uow: UnitOfWork, ctx: Context, run: DeploymentRun) -> None:
    """A rehearsal that rolled back cleanly is the change's rollback_test evidence (the gate's rollback rule);
    one that did not is only recorded on the run."""
    if run.state != RunState.ROLLED_BACK.value:
        return
    log = log_text(run_out(run, steps=uow.runs.steps(run.id))).encode()
    try:
        changes.attach_evidence(uow, ctx, str(run.change_id), filename=f"rollback-rehearsal-run-{run.id}.log",
                                content=log, media_type="text/plain", kind="rollback_test",
                                description=f"rollback rehearsed on {run.environment} by run {run.id}",
                                max_bytes=max(rt.settings.max_evidence_bytes, len(log)))
    except ChangegateError as exc:
        run.notes = [*run.notes, f"the rehearsal could not be recorded as evidence: {exc.message}"]


# --- a person's decisions ---------------------------------------------------------------------------


def _open_run(uow: UnitOfWork, change: Change) -> DeploymentRun:
    run = uow.runs.unfinished_for_change(change.id, [s.value for s in UNFINISHED])
    if run is None:
        raise NotFound(f"{format_ref(change.id)} has no deployment run under way")
    return uow.runs.lock(run.id)


def request_rollback(uow: UnitOfWork, ctx: Context, ref: str, body: RollbackIn) -> RunOut:
    """Roll back now, skipping analysis: a person's decision, audited. The run's worker (or, when none
    drives it, the caller's process through ``drive``) carries it out."""
    change = load(uow, ref, for_update=True)
    ctx.require(Permission.CHANGE_IMPLEMENT, change=facts_of(change))
    run = _open_run(uow, change)
    state = RunState(run.state)
    if state is RunState.ROLLING_BACK:
        return run_out(run)
    if state in (RunState.QUEUED, RunState.PROTECTING):  # nothing deployed yet: nothing to roll back
        return _cancel(uow, ctx, run, state, body.reason)
    try:
        run.state = next_state(state, Event.ROLLBACK_REQUESTED).value
    except ValueError as exc:
        raise Refused(f"cannot roll back {format_ref(change.id)} now: {exc}") from None
    if run.check_failed_at is None and state is RunState.CHECKING:
        run.check_failed_at = ctx.now
    run.outcome = f"rolled back on {ctx.actor.id}'s decision: {body.reason}"
    closed = _close_waiting(uow, run, ctx, f"no longer awaited: {ctx.actor.id} rolled the run back") \
        if state is RunState.PAUSED else []  # a worker waiting on a step closes it itself
    audit_run(uow, run, "run.rollback_requested", ctx.now, {"from": state.value, "reason": body.reason,
                                                            **({"closed": closed} if closed else {})},
              actor=ctx.actor.id)
    return run_out(run)


def _cancel(uow: UnitOfWork, ctx: Context, run: DeploymentRun, state: RunState, reason: str) -> RunOut:
    """A person ends a run that has deployed nothing (queued, or protecting): it ends ``cancelled`` at once and
    the change follows (rolled back: it never left its known-good state), audited. Its lease is taken from the
    worker that may hold it: that worker's next renewal finds it lost and kills the protect command under way;
    the steps it had started are closed here."""
    run.state = next_state(state, Event.CANCEL_REQUESTED).value
    run.ended_at, run.lease_owner, run.lease_expires = ctx.now, None, None
    run.outcome = f"cancelled on {ctx.actor.id}'s decision before anything was deployed: {reason}"
    closed = []
    for step in uow.runs.steps(run.id):
        if step.state in (StepState.RUNNING, StepState.WAITING):
            step.state, step.ended_at = StepState.FAILED, ctx.now
            step.detail = {**(step.detail or {}), "message": f"stopped: {ctx.actor.id} cancelled the run"}
            closed.append(step.key)
    audit_run(uow, run, "run.cancel_requested", ctx.now, {"from": state.value, "reason": reason,
                                                          **({"closed": closed} if closed else {})},
              actor=ctx.actor.id)
    audit_run(uow, run, f"run.{run.state}", ctx.now, {"from": state.value, "event": Event.CANCEL_REQUESTED.value},
              actor=ctx.actor.id)
    if not run.rehearsal:  # a rehearsal never moved the change (it stays scheduled): nothing to follow
        _change_follows(uow, ctx, run)
    return run_out(run)


def _close_waiting(uow: UnitOfWork, run: DeploymentRun, ctx: Context, message: str) -> list[str]:
    """A manual step that paused the run on its timeout fails when a person rolls the run back instead."""
    closed = []
    for step in uow.runs.steps(run.id):
        if step.state == StepState.WAITING:
            step.state, step.ended_at = StepState.FAILED, ctx.now
            step.detail = {**(step.detail or {}), "message": message}
            closed.append(step.key)
    return closed


def confirm_step(uow: UnitOfWork, ctx: Context, ref: str, body: ConfirmIn) -> RunOut:
    """A holder of a manual step's role says it is done (or failed); anybody else is refused, audited."""
    change = load(uow, ref, for_update=True)
    run = _open_run(uow, change)
    step = next((s for s in uow.runs.steps(run.id) if s.state == StepState.WAITING and body.step in (s.key, s.name)),
                None)
    if step is None:
        raise NotFound(f"{format_ref(change.id)} has no manual step {body.step!r} waiting for a confirmation")
    plan = parse_plan(run.plan_text, run.plan_filename, ctx.policy)
    role = _manual_role(plan, step.key)
    if role not in ctx.actor.roles:
        holders = ", ".join(p.id for p in ctx.policy.holders(role)) or "nobody"
        err = Forbidden(f"only a {role} may confirm {step.name!r} of {format_ref(change.id)} (holders: {holders})",
                        reasons=(Reason("not_role_holder", f"{ctx.actor.id} does not hold {role}"),))
        err.audit = AuditRecord(actor=ctx.actor.id, action="run.step_confirm.refused", entity=f"change:{change.id}",
                                detail={"run": run.id, "step": step.key, "role": role})
        raise err
    step.state = StepState.SUCCEEDED if body.done else StepState.FAILED
    step.ended_at = ctx.now
    step.detail = {**(step.detail or {}), "confirmed_by": ctx.actor.id, "note": body.note,
                   "message": f"{'done' if body.done else 'failed'}, says {ctx.actor.id}"}
    audit_run(uow, run, "run.step_confirmed", ctx.now, {"step": step.key, "done": body.done, "role": role,
                                                        "note": body.note}, actor=ctx.actor.id)
    if run.state == RunState.PAUSED:  # paused by this step's timeout: the deployment carries on (or rolls back)
        run.state = next_state(RunState.PAUSED, Event.RESUMED).value
        audit_run(uow, run, f"run.{run.state}", ctx.now, {"from": RunState.PAUSED.value, "event": Event.RESUMED.value,
                                                          "step": step.key}, actor=ctx.actor.id)
    return run_out(run)


def commit_run(uow: UnitOfWork, ctx: Context, ref: str, body: CommitIn) -> RunOut:
    """A person decides a paused deployment stands after a failed check: the run ends committed and the change
    completes, audited with the reason. Needs the same right as a rollback (``change.implement`` there)."""
    change = load(uow, ref, for_update=True)
    ctx.require(Permission.CHANGE_IMPLEMENT, change=facts_of(change))
    run = _open_run(uow, change)
    waiting = next((s for s in uow.runs.steps(run.id) if s.state == StepState.WAITING), None)
    if waiting is not None:
        raise Refused(f"cannot commit {format_ref(change.id)}: its deployment stopped at the manual step "
                      f"{waiting.name!r}; confirm it (changegate run confirm) or roll back")
    if run.deploy_ended_at is None or run.rehearsal:  # only a finished deployment may be declared good
        what = "a rollback rehearsal" if run.rehearsal else "its deployment did not finish (a step paused it)"
        raise Refused(f"cannot commit {format_ref(change.id)}: {what}; roll back, or confirm what waits")
    try:
        target = next_state(RunState(run.state), Event.COMMIT_REQUESTED)
    except ValueError as exc:
        raise Refused(f"cannot commit {format_ref(change.id)} now: {exc}") from None
    before, run.state = run.state, target.value
    run.ended_at, run.lease_owner, run.lease_expires = ctx.now, None, None
    run.downtime_seconds = downtime(run)
    run.outcome = f"committed on {ctx.actor.id}'s decision: {body.reason}"
    audit_run(uow, run, "run.commit_requested", ctx.now, {"from": before, "reason": body.reason}, actor=ctx.actor.id)
    audit_run(uow, run, f"run.{target.value}", ctx.now, {"from": before, "event": Event.COMMIT_REQUESTED.value},
              actor=ctx.actor.id)
    if not run.rehearsal:  # a rehearsal never moved the change (it stays scheduled): nothing to follow
        _change_follows(uow, ctx, run)
    return run_out(run)


def _manual_role(plan, key: str) -> str:
    section, _, index = key.rpartition(".")
    steps = {"protect": plan.protect, "steps": plan.steps, "rollback.steps": plan.rollback.steps,
             "cleanup": plan.cleanup, **{f"waves.{w}.steps": wave.steps for w, wave in enumerate(plan.waves)}}
    return steps[section][int(index)].role


# --- reading ---------------------------------------------------------------------------------------


def show_run(uow: UnitOfWork, ctx: Context, ref: str, *, with_steps: bool = True) -> RunOut:
    """The change's newest run."""
    change = load(uow, ref)
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    runs = uow.runs.for_change(change.id)
    if not runs:
        raise NotFound(f"{format_ref(change.id)} has never been deployed")
    run = runs[-1]
    return run_out(run, steps=uow.runs.steps(run.id) if with_steps else [])


def run_out(run: DeploymentRun, *, change_id: int | None = None, steps=()) -> RunOut:
    def gap(a, b):
        return (b - a).total_seconds() if a is not None and b is not None else None

    return RunOut(
        id=run.id, change=format_ref(change_id or run.change_id), environment=run.environment, state=run.state,
        rehearsal=bool(run.rehearsal),
        actor=run.actor, plan_filename=run.plan_filename, plan_sha256=run.plan_sha256, lease_owner=run.lease_owner,
        lease_expires=run.lease_expires, created_at=run.created_at, ended_at=run.ended_at,
        checks_due_at=run.checks_due_at, monitor_until=run.monitor_until, outcome=run.outcome,
        notes=list(run.notes or []),
        check_to_rollback_seconds=gap(run.check_failed_at, run.rollback_started_at),
        rollback_seconds=gap(run.rollback_started_at, run.rollback_ended_at),
        rollback_over_limit=run.rollback_over_limit, downtime_seconds=run.downtime_seconds,
        estimated_downtime_minutes=run.estimated_downtime_minutes,
        steps=[StepOut.model_validate(s) for s in steps])


def log_text(run: RunOut) -> str:
    """A run's log as text: each step's times, state, exit status and output, then the run's end."""
    lines = [f"run {run.id} of {run.change} on {run.environment}: {run.state}"]
    for s in run.steps:
        end = s.ended_at.isoformat() if s.ended_at else "…"
        status = "" if s.exit_status is None else f" exit {s.exit_status}"
        lines.append(f"[{s.started_at.isoformat()} – {end}] {s.key} {s.name} (attempt {s.attempt}): "
                     f"{s.state}{status} {s.detail.get('message', '')}".rstrip())
        lines += [f"    {line}" for line in s.output.splitlines()]
    lines += [f"note: {n}" for n in run.notes]
    if run.outcome:
        lines.append(f"outcome: {run.outcome}")
    return "\n".join(lines) + "\n"
