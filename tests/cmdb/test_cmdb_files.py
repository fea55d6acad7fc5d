"""CMDB import and export on SQLite and PostgreSQL: round trips, idempotence, every bad input by file:line."""

from __future__ import annotations

import json

import pytest
import yaml

from changegate.core.cmdb.errors import ImportRejected
from changegate.core.cmdb.formats import render
from changegate.services import cmdb_files

from plant_cmdb import ITEMS, RELATIONS  # noqa: F401 - tests/cmdb/plant_cmdb.py


def run_import(rt, files, **kw):
    with rt.uow() as uow:
        return cmdb_files.import_files(uow, rt.context("chris.change"), [(n, d if isinstance(d, bytes) else d.encode())
                                                                          for n, d in files], **kw)


def exported(rt) -> dict:
    with rt.uow(write=False) as uow:
        return cmdb_files.export(uow, rt.context("audrey.audit"))


def audit_actions(rt) -> list[str]:
    with rt.uow(write=False) as uow:
        seq, _ = uow.audit.head()
        return [uow.audit.get(i).action for i in range(1, seq + 1)]


@pytest.mark.parametrize("fmt", ["csv", "json", "yaml"])
def test_round_trip_in_each_format_and_a_second_import_changes_nothing(plant, runtime, tmp_path, fmt):
    document = exported(plant)
    assert len(document["items"]) == 8 and len(document["relations"]) == 7
    first, second = render(document, fmt)
    files = [(f"items.{fmt}", first)] + ([("relations.csv", second)] if second is not None else [])
    out = run_import(plant, files)
    assert not out.applied and out.items_unchanged == 8 and out.relations_unchanged == 7
    assert out.message == "nothing to change: 8 item(s) and 7 relation(s) are already as the files say"
    # into an empty database, and back out the same
    from changegate.db.engine import make_engine
    from changegate.db.migrate import upgrade
    from changegate.services.runtime import Runtime

    url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(make_engine(url))
    other = Runtime(plant.settings, make_engine(url), plant.policy, plant.clock)
    try:
        out = run_import(other, files)
        assert out.applied and (out.items_created, out.relations_created) == (8, 7)
        assert exported(other) == document
        assert audit_actions(other) == ["cmdb.imported"]
        assert not run_import(other, files).applied and audit_actions(other) == ["cmdb.imported"]
    finally:
        other.close()


def test_a_changed_row_updates_only_what_it_states(plant):
    out = run_import(plant, [("items.csv", "name,type,criticality\nline-3,production_line,high\n")])
    assert (out.items_updated, out.items_unchanged) == (1, 0)
    line = next(i for i in exported(plant)["items"] if i["name"] == "line-3")
    assert line["criticality"] == "high" and line["owner"] == "plant-ops"  # absent column: kept



def test_an_import_changing_only_what_the_index_does_not_hold_is_applied(plant):
    """An owner-only edit writes no graph change: the write log still records the generation it bumped."""
    out = run_import(plant, [("items.csv", "name,type,owner\nline-3,production_line,packaging-team\n")])
    assert (out.items_updated, out.items_unchanged) == (1, 0)
    line = next(i for i in exported(plant)["items"] if i["name"] == "line-3")
    assert line["owner"] == "packaging-team"

BAD = [
    ("unknown item type", "items.csv", "name,type\nr2,robot\n", "items.csv:2: type: unknown item type 'robot'"),
    ("missing item", "rel.csv", "source,target,type\nmes-core,ghost,depends_on\n",
     "rel.csv:2: target: relation to a missing item 'ghost'"),
    ("unknown relation type", "rel.csv", "source,target,type\nmes-core,line-3,feeds\n",
     "rel.csv:2: type: unknown relation type 'feeds'"),
    ("duplicate names", "items.csv", "name,type\na,host\nb,host\na,site\n",
     "items.csv:4: name: duplicate item 'a' (first at items.csv:2)"),
    ("wrong columns", "items.csv", "name,kind\na,host\n", "items.csv:1: missing column(s) type"),
    ("unknown column", "items.csv", "name,type,colour\na,host,red\n", "items.csv:1: unknown column(s) colour"),
    ("field count", "items.csv", "name,type\na,host\nb,host,extra\n", "items.csv:3: 3 field(s) where the header has 2"),
    ("bad quoting", "items.csv", 'name,type\na,host\n"b,host\n', "items.csv:3: bad quoting"),
    ("not UTF-8", "items.csv", b"name,type\na,host\n\xff,host\n", "items.csv:3: not UTF-8 text (byte 0xff)"),
    ("bad criticality", "items.json", '{"items": [\n {"name": "a", "type": "host"},\n {"name": "b", "type": "host",'
     ' "criticality": "huge"}\n]}', "items.json:3: criticality: unknown criticality 'huge'"),
    ("malformed JSON", "items.json", '{"items": [\n {"name": "a",,}\n]}', "items.json:2: malformed JSON"),
    ("YAML relation", "x.yaml", "relations:\n  - {source: a, target: b}\n", "x.yaml:2: relations[0]: a relation is"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_named_by_file_and_line_and_nothing_is_imported(plant, case):
    _, name, content, expected = case
    before = exported(plant)
    with pytest.raises(ImportRejected) as caught:
        run_import(plant, [(name, content), ("more.csv", "name,type\nfresh-item,host\n")])
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems
    assert "nothing was imported" in caught.value.message
    assert exported(plant) == before


def test_apply_valid_imports_the_valid_rows_and_reports_the_others(plant):
    out = run_import(plant, [("items.csv", "name,type\nline-5,production_line\nr2,robot\n"),
                             ("rel.csv", "source,target,type\nline-5,site-north,part_of\nr2,site-north,part_of\n")],
                     apply_valid=True)
    assert out.applied and (out.items_created, out.relations_created, out.rejected) == (1, 1, 2)
    assert out.problems == ["items.csv:3: type: unknown item type 'robot' (types: service, application, module, "
                            "database, host, virtual_machine, network_device, site, production_line, mes_screen, "
                            "label_printer)", "rel.csv:3: source: relation to a missing item 'r2'"]


def test_formats_come_from_the_extension_or_are_named(plant):
    from changegate.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="cannot tell the format from the extension"):
        run_import(plant, [("items.txt", "name,type\n")])
    out = run_import(plant, [("items.txt", json.dumps({"items": [{"name": "n1", "type": "host"}]}))], fmt="json")
    assert out.items_created == 1
    doc = yaml.safe_load(render(exported(plant), "yaml")[0])
    assert {"name": "n1", "type": "host", "criticality": "medium", "owner": "", "environment": "", "description": "",
            "attributes": {}} in doc["items"]
