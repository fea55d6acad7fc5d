"""The CMDB's pages: items searched and listed, and an item with its relations and the impact of changing it.

Read-only, as the rest of the pages' reads: sign-in required (``Viewer``), no JavaScript. Writing the CMDB
stays with the CLI and the API (``cmdb.manage``).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from ..schemas.cmdb import ImpactQuery
from ..services import cmdb
from .deps import RT, Viewer, csrf_guard
from .errors import PageRoute
from .render import render

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf_guard)], include_in_schema=False)

PAGE_SIZE = 50
SHOWN = 100  # relations and impacted items listed on an item's page; the totals say how many there are


def item_link(name: str) -> str:
    return "/cmdb/items/" + quote(name, safe="")


@router.get("/cmdb")
def item_list(request: Request, ctx: Viewer, rt: RT, q: Annotated[str, Query(max_length=200)] = "",
              type: Annotated[str, Query(max_length=64)] = "",
              page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    with rt.uow(write=False) as uow:
        found = cmdb.search_items(uow, ctx, q or None, [type] if type else [], PAGE_SIZE, (page - 1) * PAGE_SIZE)
    pages = max(1, -(-found.total // PAGE_SIZE))
    chosen = {"q": q, "type": type}
    link = lambda n: "/cmdb?" + urlencode({**{k: v for k, v in chosen.items() if v}, "page": n})  # noqa: E731
    return render(request, "cmdb_items.html", me=ctx.actor, found=found, chosen=chosen, page=page, pages=pages,
                  link=link, item_link=item_link, types=list(ctx.policy.cmdb.item_types))


@router.get("/cmdb/items/{name:path}")
def item_page(request: Request, ctx: Viewer, rt: RT, name: Annotated[str, Path(max_length=200)]) -> Response:
    with rt.uow(write=False) as uow:
        uow.read_snapshot()
        item = cmdb.get_item(uow, ctx, name)
        relations = cmdb.list_relations(uow, ctx, name, [], SHOWN, 0)
        impact = cmdb.impact(uow, ctx, ImpactQuery(items=[name], limit=SHOWN))
    return render(request, "cmdb_item.html", me=ctx.actor, item=item, relations=relations, impact=impact,
                  item_link=item_link)
