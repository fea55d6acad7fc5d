"""The Core reads (db/reads.py): the same answers as the ORM's, and refusals audited as in a unit of work."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from changegate.core.errors import Forbidden
from changegate.core.policy.model import Permission
from changegate.services.demo import load_demo


def test_held_slots_and_freezes_agree_with_the_orm_repositories(runtime):
    load_demo(runtime)  # changes in every state, some scheduled, and a freeze
    start = runtime.clock() - timedelta(days=400)
    end = start + timedelta(days=800)
    with runtime.uow(write=False) as uow:
        orm = {c.id: (c.planned_start, timedelta(minutes=c.estimated_downtime_minutes or 0),
                      frozenset(i.name for i in c.items)) for c in uow.changes.scheduled_between(start, end)}
        orm_freezes = [(f.id, f.name, f.starts_at, f.ends_at, f.environments, f.items)
                       for f in uow.freezes.active_overlapping(start, end)]
    with runtime.reads() as unit:
        core = {s.change_id: (s.start, s.downtime, s.items) for s in unit.schedule_reads.held_slots(start, end)}
        core_freezes = [(f.id, f.name, f.starts_at, f.ends_at, f.environments, f.items)
                        for f in unit.schedule_reads.active_freezes(start, end)]
    assert orm and core == orm
    assert core_freezes == orm_freezes
    assert all(s.tzinfo is not None for s, _, _ in core.values())  # UTC-aware, as the ORM's


def test_a_refusal_in_a_read_only_unit_is_recorded(runtime):
    with pytest.raises(Forbidden):
        with runtime.reads():
            runtime.context("dana.dev").require(Permission.AUDIT_READ, entity="audit")
    with runtime.engine.connect() as conn:
        actor, action, entity, detail = conn.execute(
            text("SELECT actor, action, entity, detail FROM audit_events ORDER BY seq DESC LIMIT 1")).one()
    assert (actor, action, entity) == ("dana.dev", "audit.read.refused", "audit")
    assert json.loads(detail)["reasons"]
