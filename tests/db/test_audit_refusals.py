"""Every refused attempt is recorded, also when it happens inside a read-only unit of work."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from changegate.core.errors import Forbidden
from changegate.schemas.changes import ChangeCreate
from changegate.schemas.sqlcheck import SqlCheckIn
from changegate.services import audit, changes, sqlcheck


def events(rt) -> list[tuple[str, str, str, dict]]:
    with rt.engine.connect() as conn:
        rows = conn.execute(text("SELECT actor, action, entity, detail FROM audit_events ORDER BY seq")).all()
    return [(actor, action, entity, json.loads(detail)) for actor, action, entity, detail in rows]


def test_a_refused_audit_verify_is_recorded(runtime):
    with pytest.raises(Forbidden):
        with runtime.uow(write=False) as uow:
            audit.verify(uow, runtime.context("dana.dev"))
    actor, action, entity, detail = events(runtime)[-1]
    assert (actor, action, entity) == ("dana.dev", "audit.read.refused", "audit")
    assert detail["reasons"]
    with runtime.uow(write=False) as uow:
        verdict = audit.verify(uow, runtime.context("audrey.audit"))
    assert verdict.ok and verdict.checked == 1, verdict.message


def test_a_refused_sql_check_is_recorded(runtime):
    with runtime.uow() as uow:
        ref = changes.create_change(uow, runtime.context("dana.dev"), ChangeCreate(
            title="Index work orders by due date", category="application", release_level="patch",
            environment="prod", items=["mes-db"])).ref
    script = {"name": "deploy.sql", "text": "CREATE INDEX ix_due ON work_orders (due);"}
    body = SqlCheckIn(engine="sqlite", schema_sql=script, deploy=script, rollback=script)
    with pytest.raises(Forbidden):  # refused in the check's read-only unit of work, before any run
        sqlcheck.check_and_attach(runtime.uow, runtime.context("ines.itmgr"), ref, body, max_bytes=64 * 1024)
    actor, action, entity, _ = events(runtime)[-1]
    assert (actor, action, entity) == ("ines.itmgr", "evidence.attach.refused", f"change:{ref.removeprefix('CHG-')}")
    with runtime.uow(write=False) as uow:
        assert audit.verify(uow).ok
