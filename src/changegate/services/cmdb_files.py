"""Importing and exporting the CMDB: files in, an upsert planned and applied in one unit of work.

Parsing and checks are the core's (core/cmdb/formats.py, rows.py); this module reads what is stored,
applies the plan with bulk statements, and records one audit event per import that changed anything.
"""

from __future__ import annotations

import hashlib
from typing import Callable

from ..core.cmdb.errors import ImportRejected
from ..core.cmdb.formats import Parsed, format_of, parse
from ..core.cmdb.rows import STORED_FIELDS, Checked, changed_fields, check_items, check_relations, new_item
from ..core.errors import InvalidInput
from ..core.policy.model import Permission
from ..db.uow import UnitOfWork
from ..schemas.cmdb import ImportOut
from .cmdb import Written, _audit
from .context import Context

Progress = Callable[[str, int], None]  # (file name, lines read so far)
_NAMES_IN_AUDIT = 1_000  # an import's audit event names at most this many created or updated items


def read_files(files: list[tuple[str, bytes]], fmt: str | None, progress: Progress | None = None) -> Parsed:
    parsed = Parsed()
    for filename, data in files:
        try:
            kind = format_of(filename, fmt)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="format") from None
        tick = (lambda line, name=filename: progress(name, line)) if progress else None
        one = parse(filename, data, kind, tick)
        parsed.items += one.items
        parsed.relations += one.relations
        parsed.problems += one.problems
    return parsed


def import_files(uow: UnitOfWork, ctx: Context, files: list[tuple[str, bytes]], *, fmt: str | None = None,
                 apply_valid: bool = False, progress: Progress | None = None) -> ImportOut:
    ctx.require(Permission.CMDB_MANAGE, entity="cmdb")
    parsed = read_files(files, fmt, progress)
    checked, stored, ids = _check(uow, ctx, parsed)
    problems = [str(p) for p in sorted(checked.problems, key=lambda p: (p.file, p.line))]
    rejected = len(parsed.items) + len(parsed.relations) - len(checked.items) - len(checked.relations)
    if problems and not apply_valid:
        raise ImportRejected(f"{len(problems)} problem(s) in the files; nothing was imported (--apply-valid "
                             "imports the valid rows)", problems=tuple(problems))
    created, updated = _apply_items(uow, checked, stored)
    created_relations, triples, new_relations = _apply_relations(uow, checked, ids, stored)
    counts = dict(items_created=len(created), items_updated=len(updated),
                  items_unchanged=len(checked.items) - len(created) - len(updated),
                  relations_created=created_relations, relations_unchanged=triples - created_relations)
    changed = bool(created or updated or created_relations)
    if changed:
        by_id = {v["id"]: k for k, v in stored.items()}
        _audit(uow, ctx, "cmdb.imported", "cmdb", None, None, {
            **counts, "files": [{"name": f, "sha256": hashlib.sha256(d).hexdigest()} for f, d in files],
            "created": [c["name"] for c in created[:_NAMES_IN_AUDIT]],
            "updated": [by_id[u["id"]] for u in updated[:_NAMES_IN_AUDIT]], "rejected": rejected},
               writes=_written(uow, created, updated, stored, new_relations))
    return ImportOut(applied=changed, rejected=rejected, problems=problems, message=_message(counts, changed),
                     **counts)


def _check(uow: UnitOfWork, ctx: Context, parsed: Parsed) -> tuple[Checked, dict[str, dict], dict[str, int]]:
    """The valid rows and the problems; the stored items the files name; the ids of the relations' stored ends."""
    checked = Checked(problems=list(parsed.problems))
    check_items(parsed.items, ctx.policy.cmdb, checked)
    stored = {name: {"id": i.id, **{k: getattr(i, k) for k in STORED_FIELDS}}
              for name, i in uow.cmdb.by_names(checked.items).items()}
    endpoints = {n for r in parsed.relations for n in (r.source, r.target)} - set(checked.items)
    ids = uow.cmdb.ids_by_names(endpoints)
    check_relations(parsed.relations, ctx.policy.cmdb, set(ids), checked)
    return checked, stored, ids


def _apply_items(uow: UnitOfWork, checked: Checked, stored: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    created = [new_item(name, row.fields) for name, row in checked.items.items() if name not in stored]
    updated = []
    for name, row in checked.items.items():
        diff = changed_fields(stored[name], row.fields) if name in stored else None
        if diff:
            updated.append({"id": stored[name]["id"], **diff})
    uow.cmdb.insert_items(created)
    uow.cmdb.update_items(updated)
    return created, updated


def _apply_relations(uow: UnitOfWork, checked: Checked, ids: dict[str, int],
                     stored: dict[str, dict]) -> tuple[int, int, list]:
    """Creates the relations not stored yet; returns (created, relations in the files, the created triples)."""
    stored_before = {*ids.values(), *(v["id"] for v in stored.values())}  # items not created by this import
    ids.update(uow.cmdb.ids_by_names({n for r in checked.relations for n in (r.source, r.target)} - set(ids)))
    # check_relations kept one row per (source, target, type), and names map one to one to ids: no duplicates
    triples = [(ids[r.source], ids[r.target], r.type) for r in checked.relations]
    # only an item stored before this import can have a stored relation: a first import asks nothing
    existing = uow.cmdb.existing_triples({t[0] for t in triples if t[0] in stored_before})
    new_relations = [t for t in triples if t not in existing]
    uow.cmdb.insert_relations(new_relations)
    return len(new_relations), len(triples), new_relations


_LOGGED = 10_000  # an import writing more rows than this asks every index to be built again


def _written(uow: UnitOfWork, created: list[dict], updated: list[dict], stored: dict[str, dict],
             new_relations: list[tuple[int, int, str]]) -> list[Written]:
    """The import's rows for the write log (services/cmdb.py: graph), or one ``rebuild`` for a large one."""
    if len(created) + len(updated) + len(new_relations) > _LOGGED:
        return [("rebuild", 0, 0, "", "")]
    ids = uow.cmdb.ids_by_names(c["name"] for c in created)
    by_id = {v["id"]: v for v in stored.values()}
    items = [("item", ids[c["name"]], 0, c["type"], c["criticality"]) for c in created]
    for u in updated:
        if "type" in u or "criticality" in u:
            merged = {**by_id[u["id"]], **u}
            items.append(("item", u["id"], 0, merged["type"], merged["criticality"]))
    return sorted(items, key=lambda w: w[1]) + [("relation", s, t, k, "") for s, t, k in new_relations]


def _message(counts: dict, changed: bool) -> str:
    if not changed:
        return (f"nothing to change: {counts['items_unchanged']} item(s) and {counts['relations_unchanged']} "
                "relation(s) are already as the files say")
    return (f"imported: {counts['items_created']} item(s) created, {counts['items_updated']} updated, "
            f"{counts['items_unchanged']} unchanged; {counts['relations_created']} relation(s) created, "
            f"{counts['relations_unchanged']} unchanged")


def export(uow: UnitOfWork, ctx: Context) -> dict:
    """Every item and relation as the JSON and YAML files have them (the CLI renders CSV from it)."""
    ctx.require(Permission.CHANGE_READ)
    items = [{"name": i.name, "type": i.type, "criticality": i.criticality, "owner": i.owner,
              "environment": i.environment, "description": i.description, "attributes": dict(i.attributes or {})}
             for i in uow.cmdb.iter_items()]
    relations = [{"source": s, "target": t, "type": k} for s, t, k in uow.cmdb.iter_relations()]
    return {"items": items, "relations": relations}
