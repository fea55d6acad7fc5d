"""The remote client: talks to a changegate server's REST API (``--url``).

Imports httpx and the error classes only: no SQLAlchemy, Alembic, sqlglot or pydantic schemas, so a
pipeline's ``changegate --url … gate`` starts about as fast as a bare httpx script.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..core.decisions import Reason
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


_ERRORS: dict[str, type[ChangegateError]] = {
    "invalid_input": InvalidInput, "not_found": NotFound, "unauthenticated": Unauthenticated,
    "forbidden": Forbidden, "refused": Refused, "conflict": Conflict,
    "unavailable": Unavailable,
}

JOB_POLL_SECONDS = 0.25  # a background job's state, asked this often while it runs


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
        raise self._error(response)

    @classmethod
    def _error(cls, response: httpx.Response) -> ChangegateError:
        """The server's error, as the domain error it mapped (api/errors.py)."""
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:500]}
        return cls._error_of(body, f"HTTP {response.status_code}")

    @staticmethod
    def _error_of(body: dict, fallback: str) -> ChangegateError:
        """An error body (a response's, or a failed background job's) as the domain error it names."""
        cls = _ERRORS.get(body.get("error", ""), ChangegateError)
        message = body.get("message") or fallback
        reasons = tuple(Reason(r["code"], r["message"]) for r in body.get("reasons", []))
        if cls is InvalidInput:
            return InvalidInput(message, field=body.get("field"), reasons=reasons)
        return cls(message, reasons=reasons)

    def _job(self, path: str, payload: dict) -> dict:
        """Start a background job (``POST …/jobs``, 202) and poll ``GET /jobs/{id}`` until it ends, showing its
        progress on stderr (cli/progress.py); its result, or its error raised as the domain error it names,
        so the command prints and exits as the local one does. The server's worker does the work: no HTTP
        request is held open for it."""
        import time

        from .progress import following_job

        job = self._call("POST", path, json=payload)
        queued_at = time.monotonic()
        with following_job() as show:
            while job["state"] not in ("succeeded", "failed"):
                show(job, time.monotonic() - queued_at)
                time.sleep(JOB_POLL_SECONDS)
                job = self._call("GET", f"/jobs/{job['id']}")
        if job["state"] == "failed":
            raise self._error_of(job.get("error") or {}, f"background job {job['id']} failed")
        return job["result"]

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

        for anchor in anchors:
            parse_anchor(anchor)  # bad input never leaves this machine
        return self._job("/audit/verify/jobs", {"anchors": list(anchors)})

    def audit_head(self):
        return self._call("GET", "/audit/head")

    def create_token(self, payload):
        return self._call("POST", "/tokens", json=payload)

    def list_tokens(self, person):
        return self._call("GET", "/tokens", params={"person": person} if person else None)

    def revoke_token(self, token_id):
        return self._call("DELETE", f"/tokens/{token_id}")

    def set_password(self, person, payload):
        return self._call("PUT", f"/people/{self._name(person)}/password", json=payload)

    def password_link(self, person, payload):
        return self._call("POST", f"/people/{self._name(person)}/password-link", json=payload)

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
        return self._job(f"/changes/{ref}/sql-check/jobs", payload)

    # --- the CMDB (issue 15) ------------------------------------------------------------------------

    @staticmethod
    def _name(name: str) -> str:
        from urllib.parse import quote

        return quote(name, safe="")

    def _params(self, params: dict) -> dict:
        return {k: v for k, v in params.items() if v not in (None, [], ())}

    def cmdb_search(self, params):
        return self._call("GET", "/cmdb/items", params=self._params(params))

    def cmdb_get_item(self, name):
        return self._call("GET", f"/cmdb/items/{self._name(name)}")

    def cmdb_create_item(self, payload):
        return self._call("POST", "/cmdb/items", json=payload)

    def cmdb_update_item(self, name, payload):
        return self._call("PATCH", f"/cmdb/items/{self._name(name)}", json=payload)

    def cmdb_delete_item(self, name):
        return self._call("DELETE", f"/cmdb/items/{self._name(name)}")

    def cmdb_relations(self, params):
        return self._call("GET", "/cmdb/relations", params=self._params(params))

    def cmdb_relate(self, payload):
        return self._call("POST", "/cmdb/relations", json=payload)

    def cmdb_unrelate(self, payload):
        return self._call("POST", "/cmdb/relations/delete", json=payload)

    def cmdb_impact(self, payload):
        return self._call("POST", "/cmdb/impact", json={k: v for k, v in payload.items() if v is not None})

    def change_impact(self, ref, params):
        return self._call("GET", f"/changes/{ref}/impact", params=self._params(params))

    def curate_impact(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/impact/curation", json=payload)

    def cmdb_import(self, files, fmt, apply_valid, progress):
        """Uploads the files; the server parses and applies them (``progress`` is the local client's)."""
        from ..core.cmdb.errors import ImportRejected

        data = {"apply_valid": "true" if apply_valid else "false", **({"format": fmt} if fmt else {})}
        upload = [("files", (name, content, "application/octet-stream")) for name, content in files]
        try:
            response = self.http.post("/cmdb/import", files=upload, data=data)
        except httpx.HTTPError as exc:
            raise InvalidInput(f"cannot reach {self.http.base_url}: {exc}", field="url") from exc
        if response.status_code == 422:
            body = response.json()
            if body.get("problems"):  # rejected files: every problem by file and line
                raise ImportRejected(body["message"], problems=tuple(body["problems"]))
        if response.is_success:
            return response.json()
        return self._call("POST", "/cmdb/import", files=upload, data=data)  # raises the mapped error

    def cmdb_export(self):
        return self._call("GET", "/cmdb/export")

    # --- deployment runs (api/runs.py; docs/runner.md) ---------------------------------------------

    def attach_plan(self, ref, payload):
        return self._call("PUT", f"/changes/{ref}/plan", json=payload)

    def get_plan(self, ref):
        return self._call("GET", f"/changes/{ref}/plan")

    def deploy(self, ref, payload, progress=None, follow=True):
        """The server queues the run (a worker carries it out); ``follow``: until it ends or pauses."""
        out = self._call("POST", f"/changes/{ref}/deploy", json=payload)
        if payload.get("dry_run") or not follow:
            return out
        if progress is not None:
            progress(f"run {out['id']} queued: a worker carries it out", out)
        for line in self.follow_log(ref):
            if progress is not None:
                progress(line.rstrip("\n"), self.show_run(ref))
        return self.show_run(ref)

    def rollback(self, ref, payload, progress=None):
        return self._call("POST", f"/changes/{ref}/rollback", json=payload)

    def commit_run(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/run/commit", json=payload)

    def confirm_step(self, ref, payload):
        return self._call("POST", f"/changes/{ref}/run/confirm", json=payload)

    def show_run(self, ref):
        return self._call("GET", f"/changes/{ref}/run")

    def run_log(self, ref):
        try:
            response = self.http.get(f"/changes/{ref}/run/log")
        except httpx.HTTPError as exc:
            raise InvalidInput(f"cannot reach {self.http.base_url}: {exc}", field="url") from exc
        if not response.is_success:
            raise self._error(response)
        return response.text

    def follow_log(self, ref):
        # The server sends a keep-alive (an empty line, skipped below) every 15 s while the run waits for
        # T+N or a person: a minute without a byte is a lost connection, not a quiet run.
        try:
            with self.http.stream("GET", f"/changes/{ref}/run/log", params={"follow": "true"},
                                  timeout=httpx.Timeout(60)) as response:
                if not response.is_success:
                    response.read()
                    raise self._error(response)
                for line in response.iter_lines():
                    if line:
                        yield line + "\n"
        except httpx.HTTPError as exc:
            raise InvalidInput(f"cannot reach {self.http.base_url}: {exc}", field="url") from exc
