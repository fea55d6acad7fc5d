"""The local client: acts on the configured database through the services, in this process."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidInput

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..services.runtime import Runtime

# Each method imports the schemas and the service it calls: a command loads its own use case only (issue 13:
# ``schedule next-slot`` need not import the changes, tokens and audit services nor their schemas).


def _parse(model: "type[BaseModel]", payload: dict) -> Any:
    from pydantic import ValidationError

    from ..schemas.common import one_sentence

    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        message, field = one_sentence(exc)  # the one translator from validation errors to sentences
        raise InvalidInput(message, field=field) from exc


def _json(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


class LocalClient:
    """Acts directly on the configured database as ``person`` (whoever can open the file is trusted)."""

    def __init__(self, runtime: Runtime, person: str):
        self.rt = runtime
        self.person = person

    def _run(self, fn, *args, write: bool = True) -> Any:
        ctx = self.rt.context(self.person)
        with self.rt.uow(write=write) as uow:
            return _json(fn(uow, ctx, *args))

    # --- changes (services/changes.py, schemas/changes.py) ---

    def create_change(self, payload: dict) -> dict:
        from ..schemas.changes import ChangeCreate
        from ..services import changes

        return self._run(changes.create_change, _parse(ChangeCreate, payload))

    def update_change(self, ref: str, payload: dict) -> dict:
        from ..schemas.changes import ChangeUpdate
        from ..services import changes

        return self._run(changes.update_change, ref, _parse(ChangeUpdate, payload))

    def list_changes(self, params: dict) -> dict:
        from ..schemas.changes import ChangeFilter
        from ..services import changes

        f = ChangeFilter(state=params.get("state") or (), environment=params.get("environment") or (),
                         type=params.get("type") or (), requester=params.get("requester"), text=params.get("q"),
                         limit=params.get("limit", 50), offset=params.get("offset", 0))
        return self._run(changes.list_changes, f, write=False)

    def get_change(self, ref: str) -> dict:
        from ..services import changes

        return self._run(changes.get_change, ref, write=False)

    def transition(self, ref: str, payload: dict) -> dict:
        from ..schemas.changes import TransitionIn
        from ..services import changes

        body = _parse(TransitionIn, payload)
        ctx = self.rt.context(self.person)
        with self.rt.uow() as uow:
            return _json(changes.transition(uow, ctx, ref, body))

    def assess(self, ref: str, payload: dict) -> dict:
        from ..schemas.changes import AssessIn
        from ..services import changes

        return self._run(changes.assess, ref, _parse(AssessIn, payload))

    def decide_approval(self, ref: str, payload: dict) -> dict:
        from ..schemas.changes import ApprovalIn
        from ..services import changes

        return self._run(changes.decide_approval, ref, _parse(ApprovalIn, payload))

    def sign_off(self, ref: str, payload: dict) -> dict:
        from ..schemas.changes import SignoffIn
        from ..services import changes

        return self._run(changes.sign_off_uat, ref, _parse(SignoffIn, payload).note)

    def comment(self, ref: str, payload: dict) -> dict:
        from ..schemas.changes import CommentIn
        from ..services import changes

        return self._run(changes.add_comment, ref, _parse(CommentIn, payload))

    def attach(self, ref, filename, content, media_type, kind, description) -> dict:
        from ..services import changes

        ctx = self.rt.context(self.person)
        with self.rt.uow() as uow:
            return _json(changes.attach_evidence(
                uow, ctx, ref, filename=filename, content=content, media_type=media_type, kind=kind,
                description=description, max_bytes=self.rt.settings.max_evidence_bytes))

    def history(self, ref: str) -> list:
        from ..services import changes

        return self._run(changes.history, ref, write=False)

    # --- audit, tokens, environments ---

    def verify_audit(self, processes: int | None = None, anchors: list[str] = ()) -> dict:
        from ..core.audit import parse_anchor
        from ..services import audit

        parsed = [parse_anchor(a) for a in anchors]
        with self.rt.uow(write=False) as uow:
            return audit.verify(uow, processes=processes, anchors=parsed).to_dict()

    def audit_head(self) -> dict:
        from ..services import audit

        with self.rt.uow(write=False) as uow:
            return audit.head(uow)

    def create_token(self, payload: dict) -> dict:
        from ..schemas.tokens import TokenIn
        from ..services import tokens

        body = _parse(TokenIn, payload)
        return self._run(tokens.create_token, body.person, body.name, body.expires_at)

    def list_tokens(self, person: str | None) -> list:
        from ..services import tokens

        return self._run(tokens.list_tokens, person, write=False)

    def revoke_token(self, token_id: int) -> dict:
        from ..services import tokens

        return self._run(tokens.revoke_token, token_id)

    def set_password(self, person: str, payload: dict) -> dict:
        from ..schemas.passwords import PasswordIn
        from ..services import passwords

        return self._run(passwords.set_password_for, person, _parse(PasswordIn, payload))

    def password_link(self, person: str, payload: dict) -> dict:
        from ..schemas.passwords import PasswordLinkIn
        from ..services import passwords

        return self._run(passwords.link_for, person, _parse(PasswordLinkIn, payload))

    def gate(self, ref: str, payload: dict) -> dict:
        from ..schemas.gate import GateIn
        from ..services import gate  # reads stored SQL checks: imports the SQL check's machinery (sqlglot)

        body = _parse(GateIn, payload)
        return self._run(gate.evaluate, ref, body.environment, body.at)

    def environments(self) -> list:
        from ..services import environments

        return self._run(environments.list_environments, write=False)

    def record_refresh(self, environment: str, payload: dict) -> dict:
        from ..schemas.environments import RefreshIn
        from ..services import environments

        return self._run(environments.record_refresh, environment, _parse(RefreshIn, payload).at)

    # --- schedule (services/schedule.py, schemas/schedule.py) ---

    def _read(self, fn, *args) -> Any:
        """A read-only use case on a Core ``ReadOnlyUnit``: no ORM imported (db/reads.py)."""
        ctx = self.rt.context(self.person)
        with self.rt.reads() as unit:
            return _json(fn(unit, ctx, *args))

    def next_slot(self, payload: dict) -> dict:
        from ..schemas.schedule import SlotQuery
        from ..services import schedule

        query = _parse(SlotQuery, payload)
        if query.change:  # the change is loaded through the ORM
            return self._run(schedule.next_slot, query, write=False)
        return self._read(schedule.next_slot, query)

    def explain(self, payload: dict) -> dict:
        from ..schemas.schedule import ExplainQuery
        from ..services import schedule

        return self._read(schedule.explain, _parse(ExplainQuery, payload))

    def _range(self, params: dict):
        from ..schemas.common import aware
        from ..services import schedule

        try:
            start = aware(datetime.fromisoformat(params["from"])) if params.get("from") else None
            end = aware(datetime.fromisoformat(params["to"])) if params.get("to") else None
        except ValueError as exc:
            raise InvalidInput(f"from/to: {exc}", field="from") from exc
        return schedule.calendar_range(self.rt.clock(), start, end)  # the defaults are the service's, as the API's

    def calendar(self, params: dict) -> dict:
        from ..services import schedule

        start, end = self._range(params)
        return self._run(schedule.calendar, start, end, params.get("environment"), write=False)

    def calendar_ics(self, params: dict) -> bytes:
        from ..services import schedule

        start, end = self._range(params)
        ctx = self.rt.context(self.person)
        with self.rt.uow(write=False) as uow:
            return schedule.calendar_ics(schedule.calendar(uow, ctx, start, end, params.get("environment")), ctx.now)

    def add_freeze(self, payload: dict) -> dict:
        from ..schemas.schedule import FreezeIn
        from ..services import schedule

        return self._run(schedule.declare_freeze, _parse(FreezeIn, payload))

    def list_freezes(self, params: dict) -> list:
        from ..services import schedule

        start, end = self._range(params)
        return self._run(schedule.list_freezes, start, end, write=False)

    def lift_freeze(self, freeze_id: int, payload: dict) -> dict:
        from ..schemas.schedule import LiftIn
        from ..services import schedule

        return self._run(schedule.lift_freeze, freeze_id, _parse(LiftIn, payload).reason)

    def conflicts(self, ref: str) -> list:
        from ..services import schedule

        return self._run(schedule.list_conflicts, ref, write=False)

    def accept_conflict(self, ref: str, payload: dict) -> list:
        from ..schemas.schedule import AcceptConflictIn
        from ..services import schedule

        return self._run(schedule.accept_conflict, ref, _parse(AcceptConflictIn, payload))

    def sql_check(self, ref: str, payload: dict) -> dict:
        from ..schemas.sqlcheck import SqlCheckIn
        from ..services import sqlcheck  # sqlglot and the scratch engines: only for this command

        return sqlcheck.check_and_attach(self.rt.uow, self.rt.context(self.person), ref,
                                         _parse(SqlCheckIn, payload), max_bytes=self.rt.settings.max_evidence_bytes)

    # --- the CMDB (issue 15) ------------------------------------------------------------------------

    def cmdb_search(self, params: dict) -> dict:
        from ..services import cmdb

        return self._run(cmdb.search_items, params.get("q"), list(params.get("type") or []),
                         params.get("limit", 50), params.get("offset", 0), write=False)

    def cmdb_get_item(self, name: str) -> dict:
        from ..services import cmdb

        return self._run(cmdb.get_item, name, write=False)

    def cmdb_create_item(self, payload: dict) -> dict:
        from ..schemas.cmdb import ItemIn
        from ..services import cmdb

        return self._run(cmdb.create_item, _parse(ItemIn, payload))

    def cmdb_update_item(self, name: str, payload: dict) -> dict:
        from ..schemas.cmdb import ItemUpdate
        from ..services import cmdb

        return self._run(cmdb.update_item, name, _parse(ItemUpdate, payload))

    def cmdb_delete_item(self, name: str) -> dict:
        from ..services import cmdb

        return self._run(cmdb.delete_item, name)

    def cmdb_relations(self, params: dict) -> dict:
        from ..services import cmdb

        return self._run(cmdb.list_relations, params.get("item"), list(params.get("type") or []),
                         params.get("limit", 100), params.get("offset", 0), write=False)

    def cmdb_relate(self, payload: dict) -> dict:
        from ..schemas.cmdb import RelationIn
        from ..services import cmdb

        return self._run(cmdb.create_relation, _parse(RelationIn, payload))

    def cmdb_unrelate(self, payload: dict) -> dict:
        from ..schemas.cmdb import RelationIn
        from ..services import cmdb

        return self._run(cmdb.delete_relation, _parse(RelationIn, payload))

    def cmdb_impact(self, payload: dict) -> dict:
        from ..schemas.cmdb import ImpactQuery
        from ..services import cmdb

        query = _parse(ImpactQuery, payload)
        ctx = self.rt.context(self.person)
        with self.rt.uow(write=False) as uow:
            uow.read_snapshot()
            return _json(cmdb.impact(uow, ctx, query))

    def curate_impact(self, ref: str, payload: dict) -> dict:
        from ..schemas.cmdb import CurationIn
        from ..services import cmdb_changes

        return self._run(cmdb_changes.curate_impact, ref, _parse(CurationIn, payload))

    def change_impact(self, ref: str, params: dict) -> dict:
        from ..services import cmdb_changes

        ctx = self.rt.context(self.person)
        with self.rt.uow(write=False) as uow:
            uow.read_snapshot()
            return _json(cmdb_changes.change_impact(uow, ctx, ref, list(params.get("type") or []), params.get("depth"),
                                            params.get("limit", 200)))

    def cmdb_import(self, files: list, fmt: str | None, apply_valid: bool, progress) -> dict:
        from ..services import cmdb_files

        ctx = self.rt.context(self.person)
        with self.rt.uow() as uow:
            return _json(cmdb_files.import_files(uow, ctx, files, fmt=fmt, apply_valid=apply_valid, progress=progress))

    def cmdb_export(self) -> dict:
        from ..services import cmdb_files

        with self.rt.uow(write=False) as uow:
            uow.read_snapshot()
            return cmdb_files.export(uow, self.rt.context(self.person))

    # --- deployment runs (services/runs.py; docs/runner.md) ------------------------------------------

    def attach_plan(self, ref: str, payload: dict) -> dict:
        from ..schemas.runs import PlanIn
        from ..services import runs

        return self._run(runs.attach_plan, ref, _parse(PlanIn, payload))

    def get_plan(self, ref: str) -> dict:
        from ..services import runs

        return self._run(runs.get_plan, ref, write=False)

    def deploy(self, ref: str, payload: dict, progress=None, follow: bool = True) -> dict:
        """Creates the run leased to this process and drives it here (``follow`` is the remote client's)."""
        from ..schemas.runs import DeployIn
        from ..services import runs, runs_worker

        body = _parse(DeployIn, payload)
        worker = None if body.dry_run else runs_worker.worker_id()
        ctx = self.rt.context(self.person)
        with self.rt.uow() as uow:
            out = runs.create_run(uow, ctx, ref, body, worker=worker)
        if body.dry_run:
            return _json(out)
        return self._drive(ref, out.id, worker, progress)

    def _drive(self, ref: str, run_id: int, worker: str, progress) -> dict:
        from ..services import runs

        on_event = None if progress is None else (lambda line: progress(line, self.show_run(ref)))
        runs.drive(self.rt, run_id, worker, on_event=on_event)
        return self.show_run(ref)

    def rollback(self, ref: str, payload: dict, progress=None) -> dict:
        from ..schemas.runs import RollbackIn
        from ..services import runs, runs_worker

        out = self._run(runs.request_rollback, ref, _parse(RollbackIn, payload))
        worker = runs_worker.worker_id()
        if not runs_worker.lease_to(self.rt, out["id"], worker):  # an expired lease (its worker died) is taken over
            return out  # a live worker holds the run: it carries the rollback out
        return self._drive(ref, out["id"], worker, progress)

    def commit_run(self, ref: str, payload: dict) -> dict:
        from ..schemas.runs import CommitIn
        from ..services import runs

        return self._run(runs.commit_run, ref, _parse(CommitIn, payload))

    def confirm_step(self, ref: str, payload: dict) -> dict:
        from ..schemas.runs import ConfirmIn
        from ..services import runs, runs_worker

        from ..core.runs.machine import RunState

        out = self._run(runs.confirm_step, ref, _parse(ConfirmIn, payload))
        if out["state"] == RunState.DEPLOYING and out["lease_owner"] is None:  # resumed after a manual step's timeout
            worker = runs_worker.worker_id()
            if runs_worker.lease_to(self.rt, out["id"], worker):  # no worker took it yet: carried on here, as deploy does
                return self._drive(ref, out["id"], worker, None)
        return out

    def show_run(self, ref: str) -> dict:
        from ..services import runs

        return self._run(runs.show_run, ref, write=False)

    def run_log(self, ref: str) -> str:
        from ..services import runs

        with self.rt.uow(write=False) as uow:
            return runs.log_text(runs.show_run(uow, self.rt.context(self.person), ref))

    def follow_log(self, ref: str):
        from ..services import run_stream

        return run_stream.follow(run_stream.open_log(self.rt, self.rt.context(self.person), ref))
