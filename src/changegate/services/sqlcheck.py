"""Database change safety for a change: check its SQL scripts, keep the result as evidence.

The check itself (sqlcheck/check.py) runs on a scratch database and may take
seconds, so it runs outside any unit of work; the scripts and the report are then
attached in one unit of work. The report is keyed by the scripts' combined
SHA-256: attaching an edited script makes the stored check stale, and the gate
stops counting it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from ..core.audit import AuditRecord
from ..core.changes.entities import TERMINAL_STATES
from ..core.errors import Refused, Unavailable
from ..core.gate.rules import SqlCheckFact
from ..core.policy.model import Permission
from ..db.uow import UnitOfWork
from ..schemas.sqlcheck import SqlCheckIn
from ..sqlcheck.check import PASS, ROLES, ScratchUnavailable, check_sql, scripts_digest
from . import changes
from .context import Context
from .lookup import load
from .views import facts_of

EVIDENCE_KIND = {role: f"sql_{role}" for role in ROLES}  # sql_schema, sql_deploy, sql_rollback, sql_verify


@dataclass(frozen=True)
class Script:
    name: str
    text: str


def scripts_of(schema: Any, deploy: Any, rollback: Any, verify: Any = None) -> dict[str, Script]:
    """The scripts of one check by role; each given as a ``(name, text)`` pair or an object with ``name``
    and ``text`` (a request's ``ScriptIn``), or None when absent (verify is optional)."""
    given = {"schema": schema, "deploy": deploy, "rollback": rollback, "verify": verify}
    return {role: Script(*s) if isinstance(s, tuple) else Script(s.name, s.text)
            for role, s in given.items() if s is not None}


def run_check(engine: str, *, schema: Any, deploy: Any, rollback: Any, verify: Any = None, **options) -> dict:
    """Check scripts that belong to no change (``changegate sql check``); the report as a dict."""
    return _check(engine, scripts_of(schema, deploy, rollback, verify), **options)


def _check(engine: str, scripts: dict[str, Script], **options) -> dict:
    try:
        report = check_sql(engine, scripts["schema"].text, scripts["deploy"].text, scripts["rollback"].text,
                           scripts["verify"].text if "verify" in scripts else None,
                           names={role: s.name for role, s in scripts.items()}, **options)
    except ScratchUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    return report.to_dict()


def _summary(report: dict) -> str:
    failed = [f"{name}: {'; '.join(p['sentences'][:3])}" for name, p in report["properties"].items()
              if p["verdict"] == "fail"]
    return " | ".join(failed) or "all properties pass"


def check_and_attach(open_uow: Callable[..., UnitOfWork], ctx: Context, ref: str, request: SqlCheckIn, *,
                     max_bytes: int, **options) -> dict:
    """Check a change's SQL scripts (the request as it came) and attach them with the report, in one unit
    of work."""
    with open_uow(write=False) as uow:
        may_check(uow, ctx, ref)
    scripts, report = check_request(request, **options)
    with open_uow() as uow:
        attach_report(uow, ctx, ref, scripts, report, max_bytes=max_bytes)
    return report


def may_check(uow: UnitOfWork, ctx: Context, ref: str) -> None:
    """Refused unless the caller may attach evidence to the change and it is still open."""
    facts = facts_of(load(uow, ref))
    ctx.require(Permission.EVIDENCE_ATTACH, change=facts)
    if facts.state in TERMINAL_STATES:
        raise Refused(f"cannot check SQL of {facts.ref}: it is {facts.state.value}")


def check_request(request: SqlCheckIn, **options) -> tuple[dict[str, Script], dict]:
    """The scripts of a request and their report (seconds on PostgreSQL: outside any unit of work)."""
    scripts = scripts_of(request.schema_sql, request.deploy, request.rollback, request.verify)
    return scripts, _check(request.engine, scripts, **options)


def attach_report(uow: UnitOfWork, ctx: Context, ref: str, scripts: dict[str, Script], report: dict, *,
                  max_bytes: int) -> None:
    """The scripts and the report as the change's evidence, with the ``sql.checked`` event."""
    for role, script in scripts.items():
        changes.attach_evidence(uow, ctx, ref, filename=script.name, content=script.text.encode("utf-8"),
                                media_type="application/sql", kind=EVIDENCE_KIND[role],
                                description=f"{role} script", max_bytes=max_bytes)
    combined = report["scripts_sha256"]["combined"]
    changes.attach_evidence(uow, ctx, ref, filename=f"sql-check-{combined[:12]}.json",
                            content=json.dumps(report, sort_keys=True).encode("utf-8"),
                            media_type="application/json", kind="sql_check",
                            description=f"SQL check on {report['engine']}: "
                                        f"{'passed' if report['passed'] else 'failed'}",
                            max_bytes=max_bytes)
    change = load(uow, ref)
    uow.audit.append(AuditRecord(
        actor=ctx.actor.id, action="sql.checked", entity=f"change:{change.id}",
        detail={"engine": report["engine"], "passed": report["passed"], "scripts_sha256": combined,
                "properties": {k: v["verdict"] for k, v in report["properties"].items()}}), ctx.now)


# The evidence a stored SQL check is judged from: the report, then the scripts it covered.
CHECK_KINDS = ("sql_check", *EVIDENCE_KIND.values())


def stored_check(blobs: dict[str, bytes | None]) -> SqlCheckFact | None:
    """The newest SQL check of a change, marked stale when a script was attached again since.
    ``blobs``: the content of the newest evidence of each kind in CHECK_KINDS (None: none attached)."""
    if blobs["sql_check"] is None:
        return None
    report = json.loads(blobs["sql_check"])
    current = {role: None if blobs[kind] is None else blobs[kind].decode("utf-8")
               for role, kind in EVIDENCE_KIND.items()}
    stale = current["schema"] is None or current["deploy"] is None or current["rollback"] is None or \
        scripts_digest(report["engine"], current["schema"], current["deploy"], current["rollback"],
                       current["verify"])["combined"] != report["scripts_sha256"]["combined"]
    props = report["properties"]
    return SqlCheckFact(
        passed=bool(report["passed"]),
        idempotent=props["idempotent"]["verdict"] == PASS,
        reversible=props["reversible"]["verdict"] == PASS,
        summary=_summary(report),
        stale=stale,
    )
