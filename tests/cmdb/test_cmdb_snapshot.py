"""The graph index is built from one snapshot: the generation it is labelled with and the rows it holds are read
in the caller's snapshot, so a write committed by another connection in between is neither in the index nor
merged twice later (and a deleted relation is never resurrected). Real concurrent connections, both engines."""

from __future__ import annotations

import threading

import pytest

from changegate.db.engine import make_engine
from changegate.db.reads import CmdbReads
from changegate.schemas.cmdb import ImpactQuery, ItemIn, RelationIn
from changegate.services import changes, cmdb, cmdb_changes, tokens
from changegate.services.runtime import Runtime


def _change(**fields):
    from changegate.schemas.changes import ChangeCreate

    return ChangeCreate(title="Fix labels", environment="prod", category="application", release_level="patch",
                        **fields)

EXTRA = RelationIn(source="printer-3a", target="db-mes-prod", type="depends_on")  # adds printer-3a to the impact


def _other(rt, clock) -> Runtime:
    """A second runtime on the same database: another process, with an index of its own and its own connections."""
    return Runtime(rt.settings, make_engine(rt.settings.database_url), rt.policy, clock)


def _write_during_the_next_build(monkeypatch, write, *, wait: bool = True) -> list[threading.Thread]:
    """The next full index build, once it has read the generation and before it reads the rows, lets ``write``
    run on another connection (in a thread: a caller that holds CMDB writers off must not deadlock the test)."""
    original, started = CmdbReads.graph_rows, []

    def graph_rows(self, *args, **kwargs):
        if not started:
            thread = threading.Thread(target=write, daemon=True)
            started.append(thread)
            thread.start()
            thread.join(timeout=30 if wait else 2)  # a writer held off by the caller's snapshot waits for its end
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CmdbReads, "graph_rows", graph_rows)
    return started


def _relate(rt, data: RelationIn, *, delete: bool = False) -> None:
    with rt.uow() as uow:
        (cmdb.delete_relation if delete else cmdb.create_relation)(uow, rt.context("chris.change"), data)


def _computed(rt, secret: str, ref: str) -> int:
    """What the change's GET answers (the API's read path: one statement outside a transaction, then the brief)."""
    with rt.uow(write=False) as uow:
        return changes.read_change(uow, rt.policy, secret, ref, rt.clock()).impact.computed


def test_an_index_built_on_the_get_path_holds_what_its_generation_says(plant, clock, monkeypatch):
    """The GET of a change builds the index on a process that has none; a relation committed by another
    connection between its generation read and its rows read is not in it, is merged once when the index catches
    up, and is gone once it is deleted (before the fix the index held it under the older generation, merged it
    again, and the deletion removed one of the two copies: the relation outlived its deletion)."""
    with plant.uow() as uow:
        ref = changes.create_change(uow, plant.context("dana.dev"), _change(items=["db-mes-prod"])).ref
        secret = tokens.create_token(uow, plant.context("chris.change"), "cab.carla", "reader").secret
    fresh = _other(plant, clock)
    try:
        started = _write_during_the_next_build(monkeypatch, lambda: _relate(plant, EXTRA))
        assert _computed(fresh, secret, ref) == 5  # the snapshot the GET read: before the relation
        assert started and not started[0].is_alive()
        assert _computed(fresh, secret, ref) == 6  # caught up: printer-3a depends on the database
        _relate(plant, EXTRA, delete=True)
        assert _computed(fresh, secret, ref) == 5  # deleted: never resurrected
        index = cmdb.cached_index(fresh)
        assert index.built < index.generation  # caught up through the write log, not built again
    finally:
        fresh.close()


def test_an_index_built_in_a_writing_unit_of_work_holds_what_its_generation_says(plant, clock, monkeypatch):
    """Assessment (a writing unit of work: READ COMMITTED on PostgreSQL, no snapshot) builds the index through the
    risk floor; a relation another connection writes meanwhile waits for it (PostgreSQL: the generation row is
    read FOR SHARE; SQLite: the writer holds the file), so the index is that generation's, and a deletion holds."""
    with plant.uow() as uow:
        ref = changes.create_change(uow, plant.context("dana.dev"), _change(items=["db-mes-prod"])).ref
    fresh = _other(plant, clock)
    try:
        started = _write_during_the_next_build(monkeypatch, lambda: _relate(plant, EXTRA), wait=False)
        with fresh.uow() as uow:
            change = uow.changes.get(int(ref[4:]))
            cmdb_changes.apply_risk_floor(uow, fresh.context("chris.change"), change)
            uow.session.rollback()  # the floor is not the point here: only the index it built
        started[0].join(60)
        assert not started[0].is_alive()
        assert _impact_total(fresh, "db-mes-prod") == 6
        _relate(plant, EXTRA, delete=True)
        assert _impact_total(fresh, "db-mes-prod") == 5
    finally:
        fresh.close()


def _impact_total(rt, *items: str) -> int:
    with rt.uow(write=False) as uow:
        uow.read_snapshot()
        return cmdb.impact(uow, rt.context("dana.dev"), ImpactQuery(items=list(items))).total


def test_an_index_built_from_uncommitted_writes_is_not_kept(plant, clock):
    """A unit of work that wrote to the CMDB sees its own writes in its impact; if it then rolls back, the index it
    built is not this process's index at that generation (another write commits under the same number)."""
    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        with plant.uow() as uow:
            cmdb.create_item(uow, plant.context("chris.change"), ItemIn(name="ghost", type="application"))
            cmdb.create_relation(uow, plant.context("chris.change"),
                                 RelationIn(source="ghost", target="db-mes-prod", type="depends_on"))
            seen = cmdb.impact(uow, plant.context("dana.dev"), ImpactQuery(items=["db-mes-prod"]))
            assert "ghost" in {i.name for i in seen.impacted}  # its own writes, uncommitted
            raise Undo
    other = _other(plant, clock)
    try:
        _relate(other, EXTRA)  # two writes: the generations the rolled-back unit of work had taken
        _relate(other, RelationIn(source="host-7", target="site-north", type="part_of"))
    finally:
        other.close()
    names = {i.name for i in _impact_of(plant, "db-mes-prod")}
    assert "printer-3a" in names and "ghost" not in names


def _impact_of(rt, *items: str):
    with rt.uow(write=False) as uow:
        uow.read_snapshot()
        return cmdb.impact(uow, rt.context("dana.dev"), ImpactQuery(items=list(items))).impacted


def test_the_snapshot_of_a_writing_unit_of_work_keeps_its_isolation(plant):
    """A writing unit of work whose first read is the CMDB's snapshot stays READ COMMITTED on PostgreSQL (its
    writes must meet no serialization error; the generation is read FOR SHARE instead); a reading one becomes one
    snapshot (REPEATABLE READ; SQLite's read transaction)."""
    postgresql = plant.settings.database_url.startswith("postgresql")
    for write, expected in ((True, "read committed"), (False, "repeatable read")):
        with plant.uow(write=write) as uow:
            uow.cmdb.snapshot()
            conn = uow.session.connection()
            if postgresql:
                assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == expected
            else:
                assert conn.connection.dbapi_connection.in_transaction
