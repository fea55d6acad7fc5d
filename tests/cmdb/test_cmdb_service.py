"""CMDB use cases on SQLite and PostgreSQL: CRUD audited, impact explained, the index never stale."""

from __future__ import annotations

import pytest

from changegate.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from changegate.db.engine import make_engine
from changegate.schemas.cmdb import ImpactQuery, ItemIn, ItemUpdate, RelationIn
from changegate.services import cmdb, cmdb_changes, cmdb_files, cmdb_index
from changegate.services.runtime import Runtime


def impact(rt, *items, **kw):
    with rt.uow(write=False) as uow:
        uow.read_snapshot()
        return cmdb.impact(uow, rt.context("dana.dev"), ImpactQuery(items=list(items), **kw))


def events(rt, action_prefix="cmdb."):
    with rt.uow(write=False) as uow:
        seq, _ = uow.audit.head()
        return [e for e in (uow.audit.get(i) for i in range(1, seq + 1)) if e.action.startswith(action_prefix)]


def test_impact_of_the_database_reaches_the_line_with_its_path(plant):
    out = impact(plant, "db-mes-prod")
    by_name = {i.name: i for i in out.impacted}
    assert by_name["line-3"].explanation == "line-3 ← mes-screen-packing ← mes-core ← db-mes-prod"
    assert by_name["line-3"].distance == 3 and by_name["line-3"].relations == ["part_of", "depends_on", "depends_on"]
    assert set(by_name) == {"mes-core", "mes-screen-packing", "mes-service", "line-3", "site-north"}
    assert out.services == ["mes-service"] and out.production_lines == ["line-3"]
    assert out.highest_criticality == "critical" and out.total == 5 and not out.truncated
    assert "host-7" not in by_name and "printer-3a" not in by_name  # below, and beside: not impacted


def test_impact_filters_by_relation_type_and_depth_and_limits_the_list(plant):
    assert [i.name for i in impact(plant, "db-mes-prod", depth=1).impacted] == ["mes-core"]
    only = impact(plant, "printer-3a", types=["part_of"])
    assert [(i.name, i.distance) for i in only.impacted] == [("line-3", 1), ("site-north", 2)]
    short = impact(plant, "db-mes-prod", limit=2)
    assert short.total == 5 and len(short.impacted) == 2 and short.truncated
    assert impact(plant, "host-7").highest_criticality == "critical"  # db-mes-prod runs on it
    with pytest.raises(NotFound, match="did you mean db-mes-prod"):
        impact(plant, "db-mes-prd")
    with pytest.raises(InvalidInput, match="unknown relation type 'feeds'"):
        impact(plant, "host-7", types=["feeds"])


def test_every_write_is_audited_with_its_state(plant):
    ctx = plant.context("chris.change")
    with plant.uow() as uow:
        cmdb.create_item(uow, ctx, ItemIn(name="line-4", type="production_line", criticality="high"))
        cmdb.create_relation(uow, ctx, RelationIn(source="line-4", target="site-north", type="part_of"))
        cmdb.update_item(uow, ctx, "line-4", ItemUpdate(owner="plant-ops"))
        cmdb.delete_relation(uow, ctx, RelationIn(source="line-4", target="site-north", type="part_of"))
        cmdb.delete_item(uow, ctx, "line-4")
    actions = [(e.action, e.entity) for e in events(plant)][1:]
    assert [a for a, _ in actions] == ["cmdb.item.created", "cmdb.relation.created", "cmdb.item.edited",
                                      "cmdb.relation.deleted", "cmdb.item.deleted"]
    edited = events(plant, "cmdb.item.edited")[0]
    assert '"owner":""' in edited.before and '"owner":"plant-ops"' in edited.after


def test_writes_are_checked_and_refused_when_not_allowed(plant):
    ctx = plant.context("chris.change")
    with pytest.raises(InvalidInput, match="unknown item type 'robot'"):
        with plant.uow() as uow:
            cmdb.create_item(uow, ctx, ItemIn(name="r2", type="robot"))
    with pytest.raises(Conflict, match="exists already"):
        with plant.uow() as uow:
            cmdb.create_item(uow, ctx, ItemIn(name="line-3", type="production_line"))
    with pytest.raises(Forbidden):
        with plant.uow() as uow:
            cmdb.create_item(uow, plant.context("dana.dev"), ItemIn(name="x", type="host"))
    assert [e.action for e in events(plant, "cmdb.manage")] == ["cmdb.manage.refused"]
    with plant.uow(write=False) as uow:
        page = cmdb.search_items(uow, ctx, "mes", [], 10, 0)
        assert [i.name for i in page.items] == ["db-mes-prod", "mes-core", "mes-screen-packing", "mes-service"]
        assert cmdb.search_items(uow, ctx, None, ["label_printer"], 10, 0).total == 1
        rel = cmdb.list_relations(uow, ctx, "line-3", [], 10, 0)
        assert rel.total == 3


def test_an_index_is_never_stale_after_a_write_through_another_runtime(plant, clock):
    """Two runtimes on one database, as two API processes: each has its own index; a write through one
    is seen by the other's next impact query, through the generation counter."""
    other = Runtime(plant.settings, make_engine(plant.settings.database_url), plant.policy, clock)
    try:
        assert impact(other, "host-7").total == 6  # the other process builds its index
        assert impact(plant, "host-7").total == 6
        with other.uow() as uow:
            cmdb.create_item(uow, other.context("chris.change"), ItemIn(name="mes-reports", type="application"))
            cmdb.create_relation(uow, other.context("chris.change"),
                                 RelationIn(source="mes-reports", target="db-mes-prod", type="depends_on"))
        seen = impact(plant, "host-7")
        assert seen.total == 7 and "mes-reports" in {i.name for i in seen.impacted}
        with plant.uow() as uow:
            cmdb.delete_item(uow, plant.context("chris.change"), "mes-core")
        assert {i.name for i in impact(other, "db-mes-prod").impacted} == {"mes-reports"}
        with plant.uow() as uow:
            cmdb.update_item(uow, plant.context("chris.change"), "mes-reports", ItemUpdate(criticality="critical"))
        assert impact(other, "db-mes-prod").highest_criticality == "critical"
        # Each index caught up by merging the logged writes: neither was built again after its first query.
        built = cmdb.cached_index(other).built
        assert cmdb.cached_index(other).generation > built and cmdb.cached_index(plant).built == built
    finally:
        other.close()


def test_an_index_behind_more_than_the_log_or_after_a_large_import_is_built_again(plant, monkeypatch):
    first = impact(plant, "host-7")
    monkeypatch.setattr(cmdb_index, "CATCH_UP_LIMIT", 1)
    with plant.uow() as uow:
        cmdb.create_item(uow, plant.context("chris.change"), ItemIn(name="mes-reports", type="application"))
        cmdb.create_relation(uow, plant.context("chris.change"),
                             RelationIn(source="mes-reports", target="db-mes-prod", type="depends_on"))
    assert impact(plant, "host-7").total == first.total + 1
    index = cmdb.cached_index(plant)
    assert index.built == index.generation  # two writes, more than the limit of one: built again
    monkeypatch.setattr(cmdb_files, "_LOGGED", 1)
    with plant.uow() as uow:
        cmdb_files.import_files(uow, plant.context("chris.change"), [("more.csv", b"name,type\na-1,host\na-2,host\n")])
    assert impact(plant, "host-7").total == first.total + 1
    assert cmdb.cached_index(plant).built == cmdb.cached_index(plant).generation == index.generation + 1


def test_a_server_builds_the_index_at_start_up(plant):
    from fastapi.testclient import TestClient

    from changegate.api.app import create_app

    assert cmdb.cached_index(plant) is None
    app = create_app(plant)
    with TestClient(app):
        app.state.cmdb_warming.join(60)  # started by the app's start-up, before any request
        assert cmdb.cached_index(plant) is not None


def test_the_demo_plant_has_a_cmdb_holding_every_item_of_its_changes(runtime):
    from changegate.services.demo import load_demo

    loaded = load_demo(runtime)
    with runtime.uow(write=False) as uow:
        named = {i.name for ref in loaded["changes"] for i in uow.changes.get(int(ref[4:])).items}
        assert named and set(uow.cmdb.ids_by_names(named)) == named
        uow.read_snapshot()
        out = cmdb_changes.change_impact(uow, runtime.context("dana.dev"), loaded["changes"][0], [], None, 50)
    assert out.unknown == [] and out.production_lines == ["line-2", "line-3"] and out.services == ["mes-service"]
    by_name = {i.name: i.explanation for i in out.impacted}
    assert by_name["printer-3a"] == "printer-3a ← label-printing ← mes-labels"


def _change(**fields):
    from changegate.schemas.changes import ChangeCreate

    return ChangeCreate(title="Fix labels", environment="prod", category="application", release_level="patch",
                        **fields)


def test_a_change_names_real_items_once_the_cmdb_is_in_use(plant, runtime):
    from changegate.schemas.changes import ChangeUpdate
    from changegate.services import changes

    ctx = plant.context("dana.dev")
    with plant.uow() as uow:
        ref = changes.create_change(uow, ctx, _change(items=["mes-core", "line-3"])).ref
    with pytest.raises(InvalidInput) as caught:
        with plant.uow() as uow:
            changes.create_change(uow, ctx, _change(items=["mes-cor", "line-3", "zzz"]))
    assert caught.value.message == "not in the CMDB: 'mes-cor' (did you mean mes-core?); 'zzz'"
    assert caught.value.field == "items"
    with pytest.raises(InvalidInput, match="'line-33' \\(did you mean line-3"):
        with plant.uow() as uow:
            changes.update_change(uow, ctx, ref, ChangeUpdate(items=["line-33"]))
    with plant.uow() as uow:
        assert changes.update_change(uow, ctx, ref, ChangeUpdate(items=["host-7"])).items == ["host-7"]


def test_without_a_cmdb_items_are_free_names(runtime):
    from changegate.services import changes

    with runtime.uow() as uow:
        assert changes.create_change(uow, runtime.context("dana.dev"), _change(items=["anything"])).items == \
            ["anything"]


def test_curation_keeps_computed_and_curated_impact_and_is_audited(plant):
    from changegate.core.errors import Refused
    from changegate.schemas.cmdb import CurationIn
    from changegate.services import changes

    with plant.uow() as uow:
        ref = changes.create_change(uow, plant.context("dana.dev"), _change(items=["db-mes-prod"])).ref
    with plant.uow() as uow:
        out = cmdb_changes.curate_impact(uow, plant.context("dana.dev"), ref, CurationIn(
            item="site-north", decision="excluded", reason="the site keeps running on the old screens"))
    assert out.total == 5 and out.curated_total == 4  # computed and curated, side by side
    assert {i.name: i.curation for i in out.impacted}["site-north"] == "excluded"
    assert [(c.item, c.decision, c.by, c.computed) for c in out.curations] == [
        ("site-north", "excluded", "dana.dev", True)]
    with plant.uow() as uow:
        cmdb_changes.curate_impact(uow, plant.context("chris.change"), ref, CurationIn(
            item="line-3", decision="confirmed", reason="packing stops for 30 min"))
    with pytest.raises(InvalidInput, match="'host-7' is not in the computed impact"):
        with plant.uow() as uow:
            cmdb_changes.curate_impact(uow, plant.context("dana.dev"), ref, CurationIn(
                item="host-7", decision="confirmed", reason="below, not impacted"))
    with pytest.raises(Forbidden):
        with plant.uow() as uow:
            cmdb_changes.curate_impact(uow, plant.context("kim.keyuser"), ref, CurationIn(
                item="line-3", decision="excluded", reason="not mine"))
    with plant.uow(write=False) as uow:
        trail = [(e.action, e.actor) for e in uow.audit.for_entity(f"change:{ref[4:]}")]
    assert ("change.impact_curated", "dana.dev") in trail and ("change.impact_curated", "chris.change") in trail
    with plant.uow() as uow:  # the CMDB moves: the decision stays, marked as no longer computed
        cmdb.delete_relation(uow, plant.context("chris.change"),
                             RelationIn(source="line-3", target="site-north", type="part_of"))
    with plant.uow(write=False) as uow:
        uow.read_snapshot()
        out = cmdb_changes.change_impact(uow, plant.context("cab.carla"), ref, [], None, 50)
    assert [(c.item, c.computed) for c in out.curations] == [("line-3", True), ("site-north", False)]
    assert out.curated_total == out.total == 4
    with plant.uow() as uow:
        changes.transition(uow, plant.context("dana.dev"), ref, __import__(
            "changegate.schemas.changes", fromlist=["TransitionIn"]).TransitionIn(action="cancel", reason="later"))
    with pytest.raises(Refused, match="can no longer be curated"):
        with plant.uow() as uow:
            cmdb_changes.curate_impact(uow, plant.context("dana.dev"), ref, CurationIn(
                item="line-3", decision="excluded", reason="too late"))


def test_the_highest_criticality_reached_sets_a_risk_floor_and_says_why(plant):
    from changegate.services import changes

    assert impact(plant, "mes-core").highest_because == "line-3 ← mes-screen-packing ← mes-core"
    with plant.uow() as uow:
        low = changes.create_change(uow, plant.context("dana.dev"), _change(items=["printer-3a"])).ref
        fine = changes.create_change(uow, plant.context("dana.dev"), _change(items=["mes-core"],
                                                                             risk="critical")).ref
    with plant.uow(write=False) as uow:
        uow.read_snapshot()
        risk = cmdb_changes.change_impact(uow, plant.context("cab.carla"), low, [], None, 10).risk
        ok_risk = cmdb_changes.change_impact(uow, plant.context("cab.carla"), fine, [], None, 10).risk
    assert (risk.change_risk, risk.floor, risk.below_floor) == ("standard", "critical", True)
    assert risk.why == ("the impact reaches line-3 ← printer-3a (critical); cmdb.risk_floor asks at least critical, "
                        "and the change says standard (raised to it when the change is assessed)")
    assert (ok_risk.floor, ok_risk.below_floor) == ("critical", False)


def test_assessing_raises_the_risk_to_the_floor_and_the_approvers_see_why_in_the_change_json(plant, as_):
    def ok(response, status=200) -> dict:
        assert response.status_code == status, response.text
        return response.json()

    dana, chris = as_("dana.dev"), as_("chris.change")
    ref = ok(dana.post("/changes", json={
        "title": "New label layout", "type": "normal", "category": "application", "release_level": "patch",
        "environment": "prod", "items": ["printer-3a"], "risk": "standard", "impact_analysis": "labels only",
        "implementation_plan": "push the layout", "verification_plan": "print one label",
        "rollback_plan": {"script": "push the old layout", "interpreter": "sh"},
        "planned_start": "2026-12-02T08:00:00Z", "estimated_downtime": "30m"}), 201)["ref"]
    ok(dana.post(f"/changes/{ref}/evidence", files={"file": ("uat.log", b"42 passed\n", "text/plain")},
                 data={"kind": "test_log"}), 201)
    ok(dana.post(f"/changes/{ref}/transitions", json={"action": "submit"}))
    assessed = ok(chris.post(f"/changes/{ref}/assessment", json={"risk_analysis": "labels only"}))
    assert assessed["risk"] == "critical"  # standard, below the floor for the critical line-3 it reaches
    seen = ok(as_("cab.carla").get(f"/changes/{ref}"))
    assert seen["impact"]["computed"] == 2 and seen["impact"]["production_lines"] == ["line-3"]
    assert seen["impact"]["risk"] == {"change_risk": "critical", "floor": "critical", "below_floor": False,
                                      "why": "the impact reaches line-3 ← printer-3a (critical); cmdb.risk_floor "
                                             "asks at least critical"}
    with plant.uow(write=False) as uow:
        event = [e for e in uow.audit.for_entity(f"change:{ref[4:]}") if e.action == "change.assess"][0]
    assert __import__("json").loads(event.detail)["risk_floor"] == {
        "from": "standard", "to": "critical",
        "why": "the impact reaches line-3 ← printer-3a (critical); cmdb.risk_floor asks at least critical"}


def test_the_floor_is_only_reported_when_the_policy_says_report(plant):
    from changegate.db.models import Change
    from changegate.services import changes

    report = plant.policy.model_copy(update={"cmdb": plant.policy.cmdb.model_copy(
        update={"risk_floor_mode": "report"})})
    with plant.uow() as uow:
        ref = changes.create_change(uow, plant.context("dana.dev"), _change(items=["printer-3a"])).ref
    for policy, risk in ((report, None), (plant.policy, {"from": "standard", "to": "critical"})):
        with plant.uow() as uow:
            change = uow.session.get(Change, int(ref[4:]))
            ctx = plant.context("chris.change").__class__(policy=policy, actor=plant.context("chris.change").actor,
                                                          now=plant.clock())
            raised = cmdb_changes.apply_risk_floor(uow, ctx, change)
            assert (raised and {k: raised["risk_floor"][k] for k in ("from", "to")}) == risk
            uow.session.rollback()


def test_the_change_json_carries_its_impact_in_brief_computed_and_curated(plant):
    from changegate.schemas.cmdb import CurationIn
    from changegate.services import changes

    with plant.uow() as uow:
        ref = changes.create_change(uow, plant.context("dana.dev"), _change(items=["db-mes-prod"])).ref
    with plant.uow(write=False) as uow:
        brief = changes.get_change(uow, plant.context("cab.carla"), ref).impact
    assert (brief.computed, brief.curated, brief.excluded, brief.unknown) == (5, 5, [], [])
    assert (brief.highest_criticality, brief.services, brief.production_lines) == ("critical", ["mes-service"],
                                                                                    ["line-3"])
    assert brief.risk.below_floor and brief.risk.floor == "critical"
    with plant.uow() as uow:
        cmdb_changes.curate_impact(uow, plant.context("dana.dev"), ref, CurationIn(
            item="site-north", decision="excluded", reason="the site keeps running"))
    with plant.uow(write=False) as uow:  # the cached brief is not reused: curating moved the change's version
        brief = changes.get_change(uow, plant.context("cab.carla"), ref).impact
    assert (brief.computed, brief.curated, brief.excluded) == (5, 4, ["site-north"])
    with plant.uow() as uow:  # nor after a CMDB write
        cmdb.create_relation(uow, plant.context("chris.change"),
                             RelationIn(source="printer-3a", target="db-mes-prod", type="depends_on"))
    with plant.uow(write=False) as uow:
        assert changes.get_change(uow, plant.context("cab.carla"), ref).impact.computed == 6


def test_without_a_cmdb_the_change_json_has_no_impact(runtime):
    from changegate.services import changes

    with runtime.uow() as uow:
        ref = changes.create_change(uow, runtime.context("dana.dev"), _change(items=["anything"])).ref
    with runtime.uow(write=False) as uow:
        assert changes.get_change(uow, runtime.context("cab.carla"), ref).impact is None


def test_the_risk_floor_takes_the_highest_floor_at_or_below_the_criticality():
    from changegate.core.cmdb.policy import CmdbPolicy

    policy = CmdbPolicy(risk_floor={"medium": "important", "critical": "urgent"})
    assert [policy.floor_for(c) for c in (None, "low", "medium", "high", "critical")] == [
        None, None, "important", "important", "urgent"]


def test_the_quick_read_of_a_change_leaves_an_impact_search_to_the_full_read(plant):
    """The API's GET on SQLite runs ``quick_only`` on the event loop: a brief not yet cached is None there (the
    search, which may wait for an index build, then runs in the thread pool), and served from the cache after."""
    from changegate.services import changes, tokens

    with plant.uow() as uow:
        ref = changes.create_change(uow, plant.context("dana.dev"), _change(items=["db-mes-prod"])).ref
        secret = tokens.create_token(uow, plant.context("chris.change"), "cab.carla", "reader").secret
    now = plant.clock()
    with plant.uow(write=False) as uow:
        assert changes.read_change(uow, plant.policy, secret, ref, now, quick_only=True) is None
    with plant.uow(write=False) as uow:
        full = changes.read_change(uow, plant.policy, secret, ref, now)
    assert full.impact.computed == 5
    with plant.uow(write=False) as uow:
        quick = changes.read_change(uow, plant.policy, secret, ref, now, quick_only=True)
    assert quick is not None and quick.model_dump_json() == full.model_dump_json()
