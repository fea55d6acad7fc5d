"""Use cases of the configuration management database: items, relations, search, import, export, impact.

Every write bumps the CMDB generation, logs what it changed and appends its audit event in the caller's unit
of work. Impact reads the process's graph index (services/cmdb_index.py), brought up to the stored
generation first: a write through any process, on the same database, is seen by the next request of every
other process.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..core.audit import AuditRecord
from ..core.cmdb.graph import GraphIndex, Reach
from ..core.cmdb.policy import CRITICALITY_RANK, Criticality
from ..core.cmdb.rows import item_problems
from ..core.errors import Conflict, InvalidInput, NotFound
from ..core.policy.model import Permission, Policy
from ..db.models import CmdbItem
from ..db.uow import UnitOfWork
from ..schemas.cmdb import (
    ImpactedOut,
    ImpactOut,
    ImpactQuery,
    ItemIn,
    ItemOut,
    ItemPage,
    ItemUpdate,
    RelationIn,
    RelationOut,
    RelationPage,
)
from .cmdb_index import CATCH_UP_LIMIT, build_index, cached_index, graph, warm  # noqa: F401  (re-exported)
from .cmdb_names import suggest
from .context import Context

_RANKED = list(Criticality)


def item_out(item: CmdbItem) -> ItemOut:
    return ItemOut(id=item.id, name=item.name, type=item.type, owner=item.owner, environment=item.environment,
                   criticality=item.criticality, description=item.description, attributes=dict(item.attributes or {}))


def _snapshot(item: CmdbItem) -> dict:
    return item_out(item).model_dump(mode="json")


Written = tuple[str, int, int, str, str]  # one row of the write log: (op, a, b, kind, criticality)


def item_written(item: CmdbItem) -> Written:
    return ("item", item.id, 0, item.type, item.criticality)


def _audit(uow: UnitOfWork, ctx: Context, action: str, entity: str, before: dict | None, after: dict | None,
           detail: dict | None = None, *, writes: list[Written]) -> None:
    # Every CMDB write: the generation moves (every process's index sees it is behind) and the write log
    # says what changed, so an index catches up by merging instead of reading everything again.
    uow.cmdb.bump_generation(writes)
    uow.audit.append(AuditRecord(actor=ctx.actor.id, action=action, entity=entity, before=before, after=after,
                                 detail=detail), ctx.now)


def _check(ctx: Context, name: str, fields: dict) -> None:
    problems = item_problems(name, fields, ctx.policy.cmdb)
    if problems:
        key, message = problems[0]
        raise InvalidInput(f"{key}: {message}", field=key)


def _item(uow: UnitOfWork, name: str) -> CmdbItem:
    item = uow.cmdb.by_name(name)
    if item is None:
        raise NotFound(f"no configuration item {name!r}{suggest(uow, name)}")
    return item


# --- items ---------------------------------------------------------------------------------------------


def create_item(uow: UnitOfWork, ctx: Context, data: ItemIn) -> ItemOut:
    ctx.require(Permission.CMDB_MANAGE, entity=f"cmdb_item:{data.name}")
    fields = data.model_dump(mode="json", exclude={"name"})
    fields = {**fields, "owner": fields["owner"] or "", "environment": fields["environment"] or ""}
    _check(ctx, data.name, fields)
    if uow.cmdb.by_name(data.name) is not None:
        raise Conflict(f"configuration item {data.name!r} exists already")
    item = uow.cmdb.add(CmdbItem(name=data.name, **fields))
    _audit(uow, ctx, "cmdb.item.created", f"cmdb_item:{item.id}", None, _snapshot(item),
           writes=[item_written(item)])
    return item_out(item)


def update_item(uow: UnitOfWork, ctx: Context, name: str, data: ItemUpdate) -> ItemOut:
    ctx.require(Permission.CMDB_MANAGE, entity=f"cmdb_item:{name}")
    item = _item(uow, name)
    fields = data.model_dump(mode="json", exclude_unset=True)
    fields = {k: ("" if v is None and k in ("owner", "environment") else v) for k, v in fields.items()}
    fields = {k: v for k, v in fields.items() if v is not None}
    _check(ctx, name, fields)
    before = _snapshot(item)
    for key, value in fields.items():
        setattr(item, key, value)
    uow.session.flush()
    after = _snapshot(item)
    if after != before:
        graph_moved = (before["type"], before["criticality"]) != (after["type"], after["criticality"])
        _audit(uow, ctx, "cmdb.item.edited", f"cmdb_item:{item.id}", before, after,
               writes=[item_written(item) if graph_moved else ("none", 0, 0, "", "")])
    return item_out(item)


def delete_item(uow: UnitOfWork, ctx: Context, name: str) -> ItemOut:
    """Deletes the item and its relations (named in the audit event)."""
    ctx.require(Permission.CMDB_MANAGE, entity=f"cmdb_item:{name}")
    item = _item(uow, name)
    before = _snapshot(item)
    relations, _ = uow.cmdb.relations(item_id=item.id, limit=100_000)
    uow.cmdb.delete_item(item)
    _audit(uow, ctx, "cmdb.item.deleted", f"cmdb_item:{before['id']}", before, None,
           {"relations": [f"{s} {t} {d}" for _, s, d, t in relations]},
           writes=[("item_deleted", before["id"], 0, "", "")])
    return ItemOut(**before)


def get_item(uow: UnitOfWork, ctx: Context, name: str) -> ItemOut:
    ctx.require(Permission.CHANGE_READ)
    return item_out(_item(uow, name))


def search_items(uow: UnitOfWork, ctx: Context, text: str | None, types: list[str], limit: int,
                 offset: int) -> ItemPage:
    ctx.require(Permission.CHANGE_READ)
    rows, total = uow.cmdb.search(text, types, limit, offset)
    return ItemPage(items=[item_out(i) for i in rows], total=total, limit=limit, offset=offset)


# --- relations -----------------------------------------------------------------------------------------


def _relation_ids(uow: UnitOfWork, ctx: Context, data: RelationIn) -> tuple[int, int]:
    if data.type not in ctx.policy.cmdb.relation_types:
        raise InvalidInput(f"unknown relation type {data.type!r} (types: "
                           f"{', '.join(ctx.policy.cmdb.relation_types)})", field="type")
    return _item(uow, data.source).id, _item(uow, data.target).id


def create_relation(uow: UnitOfWork, ctx: Context, data: RelationIn) -> RelationOut:
    ctx.require(Permission.CMDB_MANAGE, entity=f"cmdb_relation:{data.source}")
    source_id, target_id = _relation_ids(uow, ctx, data)
    if uow.cmdb.relation(source_id, target_id, data.type) is not None:
        raise Conflict(f"{data.source} {data.type} {data.target} exists already")
    relation = uow.cmdb.add_relation(source_id, target_id, data.type)
    out = RelationOut(id=relation.id, source=data.source, target=data.target, type=data.type)
    _audit(uow, ctx, "cmdb.relation.created", f"cmdb_relation:{relation.id}", None, out.model_dump(),
           writes=[("relation", source_id, target_id, data.type, "")])
    return out


def delete_relation(uow: UnitOfWork, ctx: Context, data: RelationIn) -> RelationOut:
    ctx.require(Permission.CMDB_MANAGE, entity=f"cmdb_relation:{data.source}")
    source_id, target_id = _relation_ids(uow, ctx, data)
    relation = uow.cmdb.relation(source_id, target_id, data.type)
    if relation is None:
        raise NotFound(f"no relation {data.source} {data.type} {data.target}")
    out = RelationOut(id=relation.id, source=data.source, target=data.target, type=data.type)
    uow.cmdb.delete_relation(relation)
    _audit(uow, ctx, "cmdb.relation.deleted", f"cmdb_relation:{out.id}", out.model_dump(), None,
           writes=[("relation_deleted", source_id, target_id, data.type, "")])
    return out


def list_relations(uow: UnitOfWork, ctx: Context, item: str | None, types: list[str], limit: int,
                   offset: int) -> RelationPage:
    ctx.require(Permission.CHANGE_READ)
    item_id = _item(uow, item).id if item else None
    rows, total = uow.cmdb.relations(item_id=item_id, types=types, limit=limit, offset=offset)
    return RelationPage(items=[RelationOut(id=i, source=s, target=t, type=k) for i, s, t, k in rows],
                        total=total, limit=limit, offset=offset)


# --- impact --------------------------------------------------------------------------------------------


def impact(uow: UnitOfWork, ctx: Context, query: ImpactQuery) -> ImpactOut:
    ctx.require(Permission.CHANGE_READ)
    return impact_of(uow, ctx.policy, query)


def impact_of(uow: UnitOfWork, policy: Policy, query: ImpactQuery) -> ImpactOut:
    return impact_with_reach(uow, policy, query)[0]


def impact_with_reach(uow: UnitOfWork, policy: Policy, query: ImpactQuery) -> tuple[ImpactOut, GraphIndex, Reach]:
    """The impact, with the index and the whole search (what a caller needs to ask about unlisted items)."""
    unknown = [t for t in query.types if t not in policy.cmdb.relation_types]
    if unknown:
        raise InvalidInput(f"unknown relation type {unknown[0]!r} (types: {', '.join(policy.cmdb.relation_types)})",
                           field="types")
    names = list(dict.fromkeys(query.items))
    uow.cmdb.snapshot()  # the ids, the index and the names: one state of the CMDB
    ids = uow.cmdb.ids_by_names(names)
    missing = [n for n in names if n not in ids]
    if missing:
        raise NotFound(f"no configuration item {missing[0]!r}{suggest(uow, missing[0])}")
    index = graph(uow, policy)
    reach = index.impact(index.positions(ids[n] for n in names), relation_types=query.types or None,
                         max_depth=query.depth)
    return _impact_out(uow, policy, query, names, index, reach), index, reach


def _impact_out(uow: UnitOfWork, policy: Policy, query: ImpactQuery, names: list[str], index: GraphIndex,
                reach: Reach) -> ImpactOut:
    """The answer: the nearest ``limit`` items with their paths, the summary, the highest criticality and why."""
    shown = reach.reached[: query.limit]
    paths = dict(zip(shown.tolist(), reach.paths(shown)))
    summary = _summary(index, reach, policy)
    why = reach.path(summary["highest_at"]) if summary["highest_at"] is not None else []
    involved = {int(index.ids[q]) for steps in [*paths.values(), why] for q, _ in steps}
    info = uow.cmdb.names_by_ids(involved | summary["ids"])
    impacted = [_impacted(index, info, steps, reach.distance_of(p)) for p, steps in paths.items()]
    by_type = {kind: sorted(info[i][0] for i in summary["ids"] if info[i][1] in kinds)
               for kind, kinds in (("services", policy.cmdb.service_types), ("lines", policy.cmdb.line_types))}
    return ImpactOut(touched=names, impacted=impacted, total=int(reach.reached.size),
                     truncated=bool(reach.reached.size > len(shown)), services=by_type["services"],
                     production_lines=by_type["lines"], highest_criticality=summary["highest"],
                     types=list(query.types), depth=query.depth,
                     highest_because=" ← ".join(info[int(index.ids[q])][0] for q, _ in why) or None)


_SUMMARY_LIMIT = 1_000  # services and lines named in a summary


def _summary(index: GraphIndex, reach, policy: Policy) -> dict:
    """Ids of the services and lines among the touched and impacted items, and the highest criticality."""
    everything = np.concatenate([reach.touched, reach.reached])
    wanted = [i for i, name in enumerate(index.type_names) if name in (*policy.cmdb.service_types,
                                                                         *policy.cmdb.line_types)]
    picked = everything[np.isin(index.item_type[everything], wanted)][:_SUMMARY_LIMIT]
    ranks = index.criticality[everything]
    at = int(np.argmax(ranks)) if everything.size else None  # the nearest item of the highest criticality
    return {"ids": {int(i) for i in index.ids[picked]},
            "highest": None if at is None else _RANKED[int(ranks[at])].value,
            "highest_at": None if at is None else int(everything[at])}


def _impacted(index: GraphIndex, info: dict, steps: list[tuple[int, int]], distance: int) -> ImpactedOut:
    names = [info[int(index.ids[q])][0] for q, _ in steps]
    name, type_, criticality = info[int(index.ids[steps[0][0]])]
    relations = [index.relation_names[r] for _, r in steps[:-1]]
    return ImpactedOut(name=name, type=type_, criticality=criticality, distance=distance, path=names,
                       relations=relations, explanation=" ← ".join(names))
