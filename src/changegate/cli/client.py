"""One interface, two ways to reach changegate: the local database or a server.

Both return the same JSON-shaped data (the boundary schemas), so every CLI
command prints the same thing whether it ran locally or through ``--url``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ValidationError

from ..core.errors import (
    ChangegateError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Refused,
    Unauthenticated,
    Unavailable,
)
from ..core.decisions import Reason
from ..schemas.changes import (
    ChangeFilter,
    ApprovalIn,
    AssessIn,
    ChangeCreate,
    ChangeUpdate,
    CommentIn,
    SignoffIn,
    TransitionIn,
)
from ..schemas.tokens import TokenIn
from ..schemas.environments import RefreshIn
from ..schemas.gate import GateIn
from ..schemas.common import aware
from ..schemas.schedule import AcceptConflictIn, ExplainQuery, FreezeIn, LiftIn, SlotQuery
from ..schemas.sqlcheck import SqlCheckIn
from ..services import audit, changes, environments, gate, schedule, sqlcheck, tokens
from ..services.runtime import Runtime


class Client(Protocol):
    def create_change(self, payload: dict) -> dict: ...
    def update_change(self, ref: str, payload: dict) -> dict: ...
    def list_changes(self, params: dict) -> dict: ...
    def get_change(self, ref: str) -> dict: ...
    def transition(self, ref: str, payload: dict) -> dict: ...
    def assess(self, ref: str, payload: dict) -> dict: ...
    def decide_approval(self, ref: str, payload: dict) -> dict: ...
    def sign_off(self, ref: str, payload: dict) -> dict: ...
    def comment(self, ref: str, payload: dict) -> dict: ...
    def attach(self, ref: str, filename: str, content: bytes, media_type: str | None, kind: str,
               description: str) -> dict: ...
    def history(self, ref: str) -> list: ...
    def verify_audit(self, processes: int | None = None, anchors: list[str] = ()) -> dict: ...
    def audit_head(self) -> dict: ...
    def create_token(self, payload: dict) -> dict: ...
    def list_tokens(self, person: str | None) -> list: ...
    def revoke_token(self, token_id: int) -> dict: ...
    def gate(self, ref: str, payload: dict) -> dict: ...
    def environments(self) -> list: ...
    def record_refresh(self, environment: str, payload: dict) -> dict: ...
    def next_slot(self, payload: dict) -> dict: ...
    def explain(self, payload: dict) -> dict: ...
    def calendar(self, params: dict) -> dict: ...
    def calendar_ics(self, params: dict) -> bytes: ...
    def add_freeze(self, payload: dict) -> dict: ...
    def list_freezes(self, params: dict) -> list: ...
    def lift_freeze(self, freeze_id: int, payload: dict) -> dict: ...
    def conflicts(self, ref: str) -> list: ...
    def accept_conflict(self, ref: str, payload: dict) -> list: ...
    def sql_check(self, ref: str, payload: dict) -> dict: ...


def _parse(model: type[BaseModel], payload: dict) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        raise InvalidInput(f"{field}: {message}", field=field) from exc


def _json(value: Any) -> Any:
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

    def create_change(self, payload: dict) -> dict:
        return self._run(changes.create_change, _parse(ChangeCreate, payload))

    def update_change(self, ref: str, payload: dict) -> dict:
        return self._run(changes.update_change, ref, _parse(ChangeUpdate, payload))

    def list_changes(self, params: dict) -> dict:
        f = ChangeFilter(state=params.get("state") or (), environment=params.get("environment") or (),
                         type=params.get("type") or (), requester=params.get("requester"), text=params.get("q"),
                         limit=params.get("limit", 50), offset=params.get("offset", 0))
        return self._run(changes.list_changes, f, write=False)

    def get_change(self, ref: str) -> dict:
        return self._run(changes.get_change, ref, write=False)

    def transition(self, ref: str, payload: dict) -> dict:
        body = _parse(TransitionIn, payload)
        ctx = self.rt.context(self.person)
        with self.rt.uow() as uow:
            return _json(changes.transition(uow, ctx, ref, body))

    def assess(self, ref: str, payload: dict) -> dict:
        return self._run(changes.assess, ref, _parse(AssessIn, payload))

    def decide_approval(self, ref: str, payload: dict) -> dict:
        return self._run(changes.decide_approval, ref, _parse(ApprovalIn, payload))

    def sign_off(self, ref: str, payload: dict) -> dict:
        return self._run(changes.sign_off_uat, ref, _parse(SignoffIn, payload).note)

    def comment(self, ref: str, payload: dict) -> dict:
        return self._run(changes.add_comment, ref, _parse(CommentIn, payload))

    def attach(self, ref, filename, content, media_type, kind, description) -> dict:
        ctx = self.rt.context(self.person)
        with self.rt.uow() as uow:
            return _json(changes.attach_evidence(
                uow, ctx, ref, filename=filename, content=content, media_type=media_type, kind=kind,
                description=description, max_bytes=self.rt.settings.max_evidence_bytes))

    def history(self, ref: str) -> list:
        return self._run(changes.history, ref, write=False)

    def verify_audit(self, processes: int | None = None, anchors: list[str] = ()) -> dict:
        from ..core.audit import parse_anchor

        parsed = [parse_anchor(a) for a in anchors]
        with self.rt.uow(write=False) as uow:
            return audit.verify(uow, processes=processes, anchors=parsed).to_dict()

    def audit_head(self) -> dict:
        with self.rt.uow(write=False) as uow:
            return audit.head(uow)

    def create_token(self, payload: dict) -> dict:
        body = _parse(TokenIn, payload)
        return self._run(tokens.create_token, body.person, body.name, body.expires_at)

    def list_tokens(self, person: str | None) -> list:
        return self._run(tokens.list_tokens, person, write=False)

    def revoke_token(self, token_id: int) -> dict:
        return self._run(tokens.revoke_token, token_id)

    def gate(self, ref: str, payload: dict) -> dict:
        body = _parse(GateIn, payload)
        return self._run(gate.evaluate, ref, body.environment, body.at)

    def environments(self) -> list:
        return self._run(environments.list_environments, write=False)

    def record_refresh(self, environment: str, payload: dict) -> dict:
        return self._run(environments.record_refresh, environment, _parse(RefreshIn, payload).at)

    def next_slot(self, payload: dict) -> dict:
        return self._run(schedule.next_slot, _parse(SlotQuery, payload), write=False)

    def explain(self, payload: dict) -> dict:
        return self._run(schedule.explain, _parse(ExplainQuery, payload), write=False)

    def _range(self, params: dict):
        try:
            start = aware(datetime.fromisoformat(params["from"])) if params.get("from") else self.rt.clock()
            end = aware(datetime.fromisoformat(params["to"])) if params.get("to") else start + timedelta(days=30)
        except ValueError as exc:
            raise InvalidInput(f"from/to: {exc}", field="from") from exc
        return start, end

    def calendar(self, params: dict) -> dict:
        start, end = self._range(params)
        return self._run(schedule.calendar, start, end, params.get("environment"), write=False)

    def calendar_ics(self, params: dict) -> bytes:
        start, end = self._range(params)
        ctx = self.rt.context(self.person)
        with self.rt.uow(write=False) as uow:
            return schedule.calendar_ics(schedule.calendar(uow, ctx, start, end, params.get("environment")), ctx.now)

    def add_freeze(self, payload: dict) -> dict:
        ctx = self.rt.context(self.person)
        with self.rt.uow() as uow:
            freeze, affected = schedule.add_freeze(uow, ctx, _parse(FreezeIn, payload))
        return {**_json(freeze), "affected_changes": affected}

    def list_freezes(self, params: dict) -> list:
        start, end = self._range(params)
        return self._run(schedule.list_freezes, start, end, write=False)

    def lift_freeze(self, freeze_id: int, payload: dict) -> dict:
        return self._run(schedule.lift_freeze, freeze_id, _parse(LiftIn, payload).reason)

    def conflicts(self, ref: str) -> list:
        return self._run(schedule.list_conflicts, ref, write=False)

    def accept_conflict(self, ref: str, payload: dict) -> list:
        return self._run(schedule.accept_conflict, ref, _parse(AcceptConflictIn, payload))

    def sql_check(self, ref: str, payload: dict) -> dict:
        body = _parse(SqlCheckIn, payload)
        scripts = {role: sqlcheck.Script(s.name, s.text) for role, s in
                   (("schema", body.schema_sql), ("deploy", body.deploy), ("rollback", body.rollback),
                    ("verify", body.verify)) if s is not None}
        return sqlcheck.check_and_attach(self.rt.uow, self.rt.context(self.person), ref, body.engine, scripts,
                                         max_bytes=self.rt.settings.max_evidence_bytes)


_ERRORS: dict[str, type[ChangegateError]] = {
    "invalid_input": InvalidInput, "not_found": NotFound, "unauthenticated": Unauthenticated,
    "forbidden": Forbidden, "refused": Refused, "conflict": Conflict,
    "unavailable": Unavailable,
}


class RemoteClient:
    """Talks to a changegate server's REST API with an API token."""

    def __init__(self, url: str, token: str | None, *, transport: httpx.BaseTransport | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/v1", headers=headers, timeout=60,
                                 transport=transport)

    def _call(self, method: str, path: str, **kwargs) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise InvalidInput(f"cannot reach {self.http.base_url}: {exc}", field="url") from exc
        if response.is_success:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:500]}
        cls = _ERRORS.get(body.get("error", ""), ChangegateError)
        message = body.get("message") or f"HTTP {response.status_code}"
        reasons = tuple(Reason(r["code"], r["message"]) for r in body.get("reasons", []))
        if cls is InvalidInput:
            raise InvalidInput(message, field=body.get("field"))
        raise cls(message, reasons=reasons)

    def create_change(self, payload):
        return self._call("POST", "/changes", json=payload)

    def update_change(self, ref, payload):
        return self._call("PATCH", f"/changes/{ref}", json=payload)

    def list_changes(self, params):
        return self._call("GET", "/changes", params={k: v for k, v in params.items() if v not in (None, [], ())})

    def get_change(self, ref):
        return self._call("GET", f"/changes/{ref}")

    def transition(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/transitions", json=payload)

    def assess(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/assessment", json=payload)

    def decide_approval(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/approvals", json=payload)

    def sign_off(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/uat-signoff", json=payload)

    def comment(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/comments", json=payload)

    def attach(self, ref, filename, content, media_type, kind, description):
        files = {"file": (filename, content, media_type or "application/octet-stream")}
        return self._call("POST", f"/changes/{ref}/evidence", files=files,
                          data={"kind": kind, "description": description})

    def history(self, ref):
        return self._call("GET", f"/changes/{ref}/history")

    def verify_audit(self, processes=None, anchors=()):
        if processes is not None:
            raise InvalidInput("--processes applies to the local database only: the server chooses its own",
                               field="processes")
        from ..core.audit import parse_anchor

        [parse_anchor(a) for a in anchors]  # bad input never leaves this machine
        return self._call("GET", "/audit/verify", params=[("anchor", a) for a in anchors])

    def audit_head(self):
        return self._call("GET", "/audit/head")

    def create_token(self, payload):
        return self._call("POST", "/tokens", json=payload)

    def list_tokens(self, person):
        return self._call("GET", "/tokens", params={"person": person} if person else None)

    def revoke_token(self, token_id):
        return self._call("DELETE", f"/tokens/{token_id}")

    def gate(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/gate", json=payload)

    def environments(self):
        return self._call("GET", "/environments")

    def record_refresh(self, environment, payload):
        return self._call("POST", f"/environments/{environment}/data-refresh", json=payload)

    @staticmethod
    def _query(payload: dict) -> dict:
        q = {k: v for k, v in payload.items() if v not in (None, [], (), False)}
        if "items" in q:
            q["item"] = q.pop("items")
        return q

    def next_slot(self, payload):
        return self._call("GET", "/schedule/next-slot", params=self._query(payload))

    def explain(self, payload):
        return self._call("GET", "/schedule/explain", params=self._query(payload))

    def calendar(self, params):
        return self._call("GET", "/calendar", params=self._query(params))

    def calendar_ics(self, params):
        response = self.http.get("/calendar.ics", params=self._query(params))
        if not response.is_success:
            return self._call("GET", "/calendar.ics", params=self._query(params))  # raises the mapped error
        return response.content

    def add_freeze(self, payload):
        return self._call("POST", "/freezes", json=payload)

    def list_freezes(self, params):
        return self._call("GET", "/freezes", params=self._query(params))

    def lift_freeze(self, freeze_id, payload):
        return self._call("POST", f"/freezes/{freeze_id}/lift", json=payload)

    def conflicts(self, ref):
        return self._call("GET", f"/changes/{ref}/conflicts")

    def accept_conflict(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/conflicts/accept", json=payload)

    def sql_check(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/sql-check", json=payload)
