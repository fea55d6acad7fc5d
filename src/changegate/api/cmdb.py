"""REST endpoints of the configuration management database (issue 15)."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from typing import Annotated, AsyncIterator

from fastapi import APIRouter, FastAPI, File, Form, Path, Query, Response, UploadFile

from ..schemas.cmdb import (
    CurationIn,
    ImpactOut,
    ImpactQuery,
    ImportOut,
    ItemIn,
    ItemOut,
    ItemPage,
    ItemUpdate,
    RelationIn,
    RelationOut,
    RelationPage,
)
from ..schemas.common import ERROR_RESPONSES, MAX_ID
from ..services import cmdb, cmdb_changes, cmdb_files
from .deps import RT, Caller, model_response



@asynccontextmanager
async def _warm_at_start_up(app: FastAPI) -> AsyncIterator[None]:
    """A server builds the CMDB's graph index as it starts, not on the first impact query; in a thread, as at
    a million items it takes seconds, and requests are served meanwhile (an impact query waits for it)."""
    app.state.cmdb_warming = threading.Thread(target=cmdb.warm, args=(app.state.runtime,), daemon=True,
                                              name="cmdb-index")
    app.state.cmdb_warming.start()
    yield


router = APIRouter(prefix="/api/v1", tags=["cmdb"], responses=ERROR_RESPONSES, lifespan=_warm_at_start_up)

Name = Annotated[str, Path(max_length=200, description="the item's name")]
Types = Annotated[list[str], Query(max_length=20)]


@router.get("/cmdb/items", response_model=ItemPage)
def search_items(ctx: Caller, rt: RT, type: Types = [],
                 q: Annotated[str | None, Query(max_length=200, description="text in name, owner or description")] = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50,
                 offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> Response:
    with rt.uow(write=False) as uow:
        return model_response(cmdb.search_items(uow, ctx, q, type, limit, offset))


@router.post("/cmdb/items", status_code=201, response_model=ItemOut)
def create_item(body: ItemIn, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = cmdb.create_item(uow, ctx, body)
    return model_response(out, status_code=201)


@router.get("/cmdb/items/{name:path}", response_model=ItemOut)
def get_item(name: Name, ctx: Caller, rt: RT) -> Response:
    with rt.uow(write=False) as uow:
        return model_response(cmdb.get_item(uow, ctx, name))


@router.patch("/cmdb/items/{name:path}", response_model=ItemOut)
def update_item(name: Name, body: ItemUpdate, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = cmdb.update_item(uow, ctx, name, body)
    return model_response(out)


@router.delete("/cmdb/items/{name:path}", response_model=ItemOut)
def delete_item(name: Name, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = cmdb.delete_item(uow, ctx, name)
    return model_response(out)


@router.get("/cmdb/relations", response_model=RelationPage)
def list_relations(ctx: Caller, rt: RT, type: Types = [],
                   item: Annotated[str | None, Query(max_length=200, description="relations of this item")] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100,
                   offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> Response:
    with rt.uow(write=False) as uow:
        return model_response(cmdb.list_relations(uow, ctx, item, type, limit, offset))


@router.post("/cmdb/relations", status_code=201, response_model=RelationOut)
def create_relation(body: RelationIn, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = cmdb.create_relation(uow, ctx, body)
    return model_response(out, status_code=201)


@router.post("/cmdb/relations/delete", response_model=RelationOut)
def delete_relation(body: RelationIn, ctx: Caller, rt: RT) -> Response:
    """Deletes the relation the body names (a body, not a path: names may hold any character)."""
    with rt.uow() as uow:
        out = cmdb.delete_relation(uow, ctx, body)
    return model_response(out)


@router.post("/cmdb/impact", response_model=ImpactOut)
def impact(body: ImpactQuery, ctx: Caller, rt: RT) -> Response:
    with rt.uow(write=False) as uow:
        uow.read_snapshot()
        return model_response(cmdb.impact(uow, ctx, body))


@router.get("/changes/{ref}/impact", response_model=ImpactOut)
def change_impact(ref: Annotated[str, Path(max_length=20)], ctx: Caller, rt: RT, type: Types = [],
                  depth: Annotated[int | None, Query(ge=1, le=1000)] = None,
                  limit: Annotated[int, Query(ge=0, le=10_000)] = 200) -> Response:
    with rt.uow(write=False) as uow:
        uow.read_snapshot()
        return model_response(cmdb_changes.change_impact(uow, ctx, ref, type, depth, limit))


@router.post("/changes/{ref}/impact/curation", response_model=ImpactOut)
def curate_impact(ref: Annotated[str, Path(max_length=20)], body: CurationIn, ctx: Caller, rt: RT) -> Response:
    """Confirm or exclude one item of the change's computed impact, with a reason (audited)."""
    with rt.uow() as uow:
        out = cmdb_changes.curate_impact(uow, ctx, ref, body)
    return model_response(out)


@router.post("/cmdb/import", response_model=ImportOut)
async def import_files(ctx: Caller, rt: RT, files: Annotated[list[UploadFile], File(description="CSV, JSON or YAML")],
                       format: Annotated[str | None, Form(max_length=10)] = None,
                       apply_valid: Annotated[bool, Form()] = False) -> Response:
    from starlette.concurrency import run_in_threadpool

    contents = [(f.filename or "upload", await f.read()) for f in files]

    def run() -> ImportOut:
        with rt.uow() as uow:
            return cmdb_files.import_files(uow, ctx, contents, fmt=format or None, apply_valid=apply_valid)

    return model_response(await run_in_threadpool(run))


@router.get("/cmdb/export")
def export(ctx: Caller, rt: RT) -> dict:
    """Every item and relation: ``{"items": [...], "relations": [...]}`` as the JSON import reads it."""
    with rt.uow(write=False) as uow:
        uow.read_snapshot()
        return cmdb_files.export(uow, ctx)
