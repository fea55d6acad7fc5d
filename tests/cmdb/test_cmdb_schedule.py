"""The schedule sees conflicts through dependencies (issue 15): the calendar, next-slot and the gate's
conflicts, on SQLite and PostgreSQL; and the conflict path reads the CMDB a constant number of times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from changegate.db.engine import make_engine
from changegate.db.migrate import upgrade
from changegate.schemas.changes import ApprovalIn, AssessIn, ChangeCreate, TransitionIn
from changegate.schemas.schedule import AcceptConflictIn, SlotQuery
from changegate.services import changes, cmdb_files, schedule
from changegate.services.runtime import Runtime

PLANNED = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)  # Wednesday 09:00 Europe/Berlin, in a window
# screen-x needs app-x, which needs db-x; nothing needs spare-x. All of low criticality: no risk floor.
ITEMS = "name,type,criticality\ndb-x,database,low\napp-x,application,low\nscreen-x,mes_screen,low\nspare-x,host,low\n"
RELATIONS = "source,target,type\napp-x,db-x,depends_on\nscreen-x,app-x,depends_on\n"


def with_cmdb(rt) -> Runtime:
    with rt.uow() as uow:
        cmdb_files.import_files(uow, rt.context("chris.change"), [("i.csv", ITEMS.encode()),
                                                                  ("r.csv", RELATIONS.encode())])
    return rt


def run(rt, person, fn, *args):
    with rt.uow() as uow:
        return fn(uow, rt.context(person), *args)


def planned(rt, items, start=PLANNED) -> str:
    body = ChangeCreate(title="Change", category="application", release_level="patch", environment="prod",
                        items=items, impact_analysis="x", implementation_plan="deploy", verification_plan="check",
                        rollback_plan={"script": "undo"}, planned_start=start, estimated_downtime=30)
    ref = run(rt, "dana.dev", changes.create_change, body).ref
    with rt.uow() as uow:
        changes.attach_evidence(uow, rt.context("dana.dev"), ref, filename="uat.log", content=b"ok",
                                media_type="text/plain", max_bytes=1000)
    run(rt, "kim.keyuser", changes.sign_off_uat, ref)
    run(rt, "dana.dev", changes.transition, ref, TransitionIn(action="submit"))
    run(rt, "chris.change", changes.assess, ref, AssessIn())
    run(rt, "ines.itmgr", changes.decide_approval, ref, ApprovalIn(role="it_manager"))
    return ref


def scheduled(rt, items, start=PLANNED, accept: str | None = None) -> str:
    ref = planned(rt, items, start)
    if accept:
        run(rt, "chris.change", schedule.accept_conflict, ref, AcceptConflictIn(other=accept, reason="one crew"))
    run(rt, "chris.change", changes.transition, ref, TransitionIn(action="schedule"))
    return ref


def test_the_calendar_shows_a_conflict_through_dependencies_with_its_path(runtime):
    rt = with_cmdb(runtime)
    db = scheduled(rt, ["db-x"])
    screen = scheduled(rt, ["screen-x"], PLANNED + timedelta(minutes=10), accept=db)
    scheduled(rt, ["spare-x"], PLANNED + timedelta(minutes=5))
    with rt.uow(write=False) as uow:
        cal = schedule.calendar(uow, rt.context("dana.dev"), PLANNED - timedelta(hours=1), PLANNED + timedelta(hours=2))
    assert [(c.change, c.other, c.items, c.through, c.accepted) for c in cal.conflicts] == [
        (db, screen, ["screen-x"], ["screen-x ← app-x ← db-x"], True)]


def test_next_slot_avoids_a_slot_held_on_an_item_that_depends_on_mine(runtime):
    rt = with_cmdb(runtime)
    scheduled(rt, ["screen-x"])  # holds 08:00–08:30 on an item that needs db-x
    query = dict(environment="prod", duration=30, after=PLANNED)
    with rt.uow(write=False) as uow:
        on_db = schedule.next_slot(uow, rt.context("dana.dev"), SlotQuery(items=["db-x"], **query))
        on_spare = schedule.next_slot(uow, rt.context("dana.dev"), SlotQuery(items=["spare-x"], **query))
    assert on_spare.start == PLANNED
    assert on_db.start >= PLANNED + timedelta(minutes=30)


def test_the_conflict_path_reads_the_cmdb_a_constant_number_of_times(tmp_path, clock):
    """N changes overlapping through dependencies cost the same statements as one (it was about 6 per change).
    On SQLite, whose driver reports every statement, the ORM's and the raw ones, to a trace callback."""
    from changegate.services.lookup import load
    from changegate.services.policy import load_policy
    from changegate.settings import DEFAULT_POLICY, Settings

    url = f"sqlite:///{tmp_path / 'count.db'}"
    engine = make_engine(url)
    upgrade(engine)
    rt = with_cmdb(Runtime(Settings(database_url=url, policy=DEFAULT_POLICY), engine, load_policy(DEFAULT_POLICY),
                           clock))
    screens = [f"s-{k}" for k in range(4)]  # each needs db-x; none needs another
    with rt.uow() as uow:
        cmdb_files.import_files(uow, rt.context("chris.change"), [
            ("s.csv", ("name,type,criticality\n" + "".join(f"{s},mes_screen,low\n" for s in screens)).encode()),
            ("sr.csv", ("source,target,type\n" + "".join(f"{s},db-x,depends_on\n" for s in screens)).encode())])
    mine = planned(rt, ["db-x"])

    def conflicts() -> tuple[int, int]:
        statements: list[str] = []
        with rt.uow(write=False) as uow:
            uow.read_snapshot()
            uow.session.connection().connection.dbapi_connection.set_trace_callback(statements.append)
            found = schedule.conflicts_of(uow, rt.context("dana.dev"), load(uow, mine))
        return len(found), len(statements)

    scheduled(rt, [screens[0]])
    conflicts()  # the graph index is built here, once
    one = conflicts()
    for k, screen in enumerate(screens[1:], 1):
        scheduled(rt, [screen], PLANNED + timedelta(minutes=k))
    four = conflicts()
    rt.close()
    assert (one[0], four[0]) == (1, 4) and one[1] == four[1]


def test_the_gate_refuses_a_change_whose_risk_floor_rose_after_its_assessment(runtime):
    """Assessment raised the risk to the floor; a CMDB write afterwards raises the floor (an impacted item becomes
    critical). The gate's authorized rule then fails, naming the item and the path, and the change's impact says
    so; back at low criticality the gate passes it again. The floor is audited where it is applied: assessment."""
    from changegate.schemas.cmdb import ItemUpdate
    from changegate.services import cmdb, gate

    rt = with_cmdb(runtime)
    ref = scheduled(rt, ["db-x"])

    def refused() -> list[str]:
        with rt.uow() as uow:
            out = gate.evaluate(uow, rt.context("sam.sysadmin"), ref, "prod", PLANNED)
        return [r.message for r in out.results if r.rule == "authorized" and r.status == "fail"]

    assert refused() == []
    run(rt, "chris.change", cmdb.update_item, "screen-x", ItemUpdate(criticality="critical"))
    assert refused() == [f"{ref} was approved at risk standard, but its impact now reaches screen-x ← app-x ← db-x "
                         "(critical) and cmdb.risk_floor asks at least critical: the CMDB changed after the "
                         "assessment; file the change again at risk critical (cancel this one), or correct the CMDB "
                         "if it is wrong"]
    with rt.uow(write=False) as uow:
        risk = changes.get_change(uow, rt.context("cab.carla"), ref).impact.risk
    assert risk.below_floor and risk.why.endswith("(the gate refuses to deploy it at this risk)")
    run(rt, "chris.change", cmdb.update_item, "screen-x", ItemUpdate(criticality="low"))
    assert refused() == []
