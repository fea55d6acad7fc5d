"""``changegate cmdb …``: configuration items, relations, import/export and impact from the command line."""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start.

from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from ..core.errors import ChangegateError
from .output import emit_json, err_console, escape, fail, table, usage
from .state import state

cmdb_app = typer.Typer(help="The configuration management database: items, relations, impact.",
                       no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TypeOpt = Annotated[Optional[list[str]], typer.Option("--type", "-t", help="Follow only relations of this type "
                                                                           "(repeat for more).")]
DepthOpt = Annotated[Optional[int], typer.Option("--depth", min=1, help="Follow at most this many relations.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=0, help="List at most this many impacted items "
                                                               "(all are counted).")]
_PROGRESS_BYTES = 1024 * 1024  # files larger than this get a progress bar


def _call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ChangegateError as exc:
        fail(exc)


def _item_line(item: dict) -> str:
    extra = ", ".join(x for x in (item["type"], item["criticality"], item["owner"], item["environment"]) if x)
    return f"{item['name']} ({extra})"


@cmdb_app.command("add")
def add(name: str, type_: Annotated[str, typer.Option("--type", help="An item type of the policy.")],
        criticality: Annotated[str, typer.Option(help="low, medium, high or critical")] = "medium",
        owner: Annotated[Optional[str], typer.Option(help="The owning team.")] = None,
        environment: Annotated[Optional[str], typer.Option("--env")] = None,
        description: str = "",
        attr: Annotated[Optional[list[str]], typer.Option("--attr", help="KEY=VALUE (repeat for more).")] = None,
        json_out: JsonOpt = False) -> None:
    """Create a configuration item."""
    payload = {"name": name, "type": type_, "criticality": criticality, "owner": owner, "environment": environment,
               "description": description, "attributes": _attributes(attr)}
    client = state.client()
    item = _call(lambda: client.cmdb_create_item(payload))
    emit_json(item) if json_out else print(f"created {_item_line(item)}")


def _attributes(pairs: Optional[list[str]]) -> dict:
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            usage(f"--attr {pair!r}: write KEY=VALUE")
        out[key] = value
    return out


@cmdb_app.command("edit")
def edit(name: str, type_: Annotated[Optional[str], typer.Option("--type")] = None,
         criticality: Annotated[Optional[str], typer.Option()] = None,
         owner: Annotated[Optional[str], typer.Option()] = None,
         environment: Annotated[Optional[str], typer.Option("--env")] = None,
         description: Annotated[Optional[str], typer.Option()] = None,
         attr: Annotated[Optional[list[str]], typer.Option("--attr", help="KEY=VALUE; replaces the attributes.")] = None,
         json_out: JsonOpt = False) -> None:
    """Change fields of an item; the others stay as they are."""
    payload = {k: v for k, v in {"type": type_, "criticality": criticality, "owner": owner,
                                 "environment": environment, "description": description}.items() if v is not None}
    if attr is not None:
        payload["attributes"] = _attributes(attr)
    client = state.client()
    item = _call(lambda: client.cmdb_update_item(name, payload))
    emit_json(item) if json_out else print(f"edited {_item_line(item)}")


@cmdb_app.command("delete")
def delete(name: str, json_out: JsonOpt = False) -> None:
    """Delete an item and its relations."""
    client = state.client()
    item = _call(lambda: client.cmdb_delete_item(name))
    emit_json(item) if json_out else print(f"deleted {item['name']}")


@cmdb_app.command("show")
def show(name: str, json_out: JsonOpt = False) -> None:
    """An item and its relations."""
    client = state.client()
    item = _call(lambda: client.cmdb_get_item(name))
    relations = _call(lambda: client.cmdb_relations({"item": name, "limit": 500}))
    if json_out:
        emit_json({**item, "relations": relations["items"]})
        return
    print(_item_line(item))
    if item["description"]:
        print(f"  {item['description']}")
    for key, value in sorted(item["attributes"].items()):
        print(f"  {key}: {value}")
    for r in relations["items"]:
        print(f"  {r['source']} {r['type']} {r['target']}")


@cmdb_app.command("search")
def search(text: Annotated[Optional[str], typer.Argument(help="Text in name, owner or description.")] = None,
           type_: Annotated[Optional[list[str]], typer.Option("--type", help="Item type (repeat for more).")] = None,
           limit: int = 50, offset: int = 0, json_out: JsonOpt = False) -> None:
    """Find items."""
    client = state.client()
    page = _call(lambda: client.cmdb_search({"q": text, "type": type_ or [], "limit": limit, "offset": offset}))
    if json_out:
        emit_json(page)
        return
    table(f"{page['total']} item(s)", ["name", "type", "criticality", "owner", "environment"],
          [[i["name"], i["type"], i["criticality"], i["owner"], i["environment"]] for i in page["items"]])


@cmdb_app.command("relate")
def relate(source: str, type_: Annotated[str, typer.Argument(metavar="TYPE")], target: str,
           json_out: JsonOpt = False) -> None:
    """Add a relation: SOURCE TYPE TARGET, e.g. mes-core depends_on db-mes-prod."""
    client = state.client()
    rel = _call(lambda: client.cmdb_relate({"source": source, "target": target, "type": type_}))
    emit_json(rel) if json_out else print(f"related {rel['source']} {rel['type']} {rel['target']}")


@cmdb_app.command("unrelate")
def unrelate(source: str, type_: Annotated[str, typer.Argument(metavar="TYPE")], target: str,
             json_out: JsonOpt = False) -> None:
    """Remove a relation."""
    client = state.client()
    rel = _call(lambda: client.cmdb_unrelate({"source": source, "target": target, "type": type_}))
    emit_json(rel) if json_out else print(f"removed {rel['source']} {rel['type']} {rel['target']}")


@cmdb_app.command("relations")
def relations(item: Annotated[Optional[str], typer.Option(help="Relations of this item.")] = None,
              type_: Annotated[Optional[list[str]], typer.Option("--type")] = None,
              limit: int = 100, offset: int = 0, json_out: JsonOpt = False) -> None:
    """List relations."""
    client = state.client()
    page = _call(lambda: client.cmdb_relations({"item": item, "type": type_ or [], "limit": limit,
                                                "offset": offset}))
    if json_out:
        emit_json(page)
        return
    for r in page["items"]:
        print(f"{r['source']} {r['type']} {r['target']}")
    print(f"{page['total']} relation(s)")


@cmdb_app.command("impact")
def impact(items: Annotated[list[str], typer.Argument(help="The touched items.")], type_: TypeOpt = None,
           depth: DepthOpt = None, limit: LimitOpt = 200, json_out: JsonOpt = False) -> None:
    """Everything that the touched items impact, transitively, each with the path that explains it."""
    client = state.client()
    out = _call(lambda: client.cmdb_impact({"items": items, "types": type_ or [], "depth": depth, "limit": limit}))
    print_impact(out, ", ".join(items), json_out)


def change_impact(ref: str, type_: TypeOpt = None, depth: DepthOpt = None, limit: LimitOpt = 200,
                  json_out: JsonOpt = False) -> None:
    """The impact of a change's items, computed from the CMDB (registered as ``change impact``)."""
    client = state.client()
    out = _call(lambda: client.change_impact(ref, {"type": type_ or [], "depth": depth, "limit": limit}))
    print_impact(out, ref, json_out)


def curate(ref: str, item: str,
           exclude: Annotated[bool, typer.Option("--exclude/--confirm", help="Exclude the item from the impact, "
                                                                               "or confirm it.")] = False,
           reason: Annotated[str, typer.Option("--reason", "-r", help="Why (recorded in the audit trail).")] = "",
           json_out: JsonOpt = False) -> None:
    """Confirm or exclude one item of a change's computed impact (registered as ``change curate``)."""
    client = state.client()
    out = _call(lambda: client.curate_impact(ref, {"item": item, "decision": "excluded" if exclude else "confirmed",
                                                    "reason": reason}))
    if json_out:
        emit_json(out)
        return
    print(f"{ref}: {item} {'excluded from' if exclude else 'confirmed in'} the impact")
    print_impact(out, ref, False)


def print_impact(out: dict, what: str, json_out: bool) -> None:
    if json_out:
        emit_json(out)
        return
    highest = f", highest criticality {out['highest_criticality']}" if out["highest_criticality"] else ""
    print(f"impact of {what}: {out['total']} item(s){highest}")
    if out.get("risk"):
        risk = out["risk"]
        print(f"risk: {'BELOW THE FLOOR: ' if risk['below_floor'] else ''}{risk['why']}")
    if out.get("unknown"):
        print(f"not in the CMDB: {', '.join(out['unknown'])}")
    if out["services"]:
        print(f"services: {', '.join(out['services'])}")
    if out["production_lines"]:
        print(f"production lines: {', '.join(out['production_lines'])}")
    if out.get("curated_total") is not None and out.get("curations"):
        print(f"curated: {out['curated_total']} item(s) after exclusions")
    for i in out["impacted"]:
        mark = f"  [{i['curation']}]" if i.get("curation") else ""
        print(f"  {i['distance']}  {i['name']} ({i['type']}, {i['criticality']})  {i['explanation']}{mark}")
    for c in out.get("curations") or ():
        gone = "" if c["computed"] else " (no longer in the computed impact)"
        print(f"  {c['decision']} {c['item']} by {c['by']}: {c['reason']}{gone}")
    if out["truncated"]:
        print(f"  … {out['total'] - len(out['impacted'])} more (--limit)")


@cmdb_app.command("import")
def import_(files: Annotated[list[Path], typer.Argument(help="CSV, JSON or YAML files.")],
            format_: Annotated[Optional[str], typer.Option("--format", help="csv, json or yaml (default: the "
                                                                             "extension)")] = None,
            apply_valid: Annotated[bool, typer.Option("--apply-valid", help="Import the valid rows even if "
                                                                            "others have problems.")] = False,
            json_out: JsonOpt = False) -> None:
    """Import items and relations; importing the same files again changes nothing."""
    contents = []
    for path in files:
        try:
            contents.append((path.name, path.read_bytes()))
        except OSError as exc:
            usage(f"cannot read {path}: {exc.strerror or exc}")
    client = state.client()
    size = sum(len(d) for _, d in contents)
    if size <= _PROGRESS_BYTES or json_out:
        out = _call(lambda: client.cmdb_import(contents, format_, apply_valid, None))
    else:
        out = _with_progress(client, contents, format_, apply_valid)
    if json_out:
        emit_json(out)
        return
    for problem in out["problems"]:
        err_console.print(f"  - {escape(problem)}", highlight=False, soft_wrap=True)
    print(out["message"] + (f"; {out['rejected']} row(s) with problems not imported" if out["rejected"] else ""))


def _with_progress(client, contents, format_, apply_valid) -> dict:
    from rich.console import Console
    from rich.progress import Progress

    lines = {name: max(1, data.count(b"\n")) for name, data in contents}
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("reading", total=sum(lines.values()))
        done: dict[str, int] = {}

        def tick(name: str, line: int) -> None:
            done[name] = line
            bar.update(task, completed=sum(done.values()), description=f"reading {name}")

        return _call(lambda: client.cmdb_import(contents, format_, apply_valid, tick))


@cmdb_app.command("export")
def export(file: Annotated[Optional[Path], typer.Argument(help="Where to write (default: standard output).")] = None,
           relations_file: Annotated[Optional[Path], typer.Option("--relations", help="CSV: where the relations "
                                                                                      "go.")] = None,
           format_: Annotated[Optional[str], typer.Option("--format", help="csv, json or yaml")] = None) -> None:
    """Write every item and relation as the import reads them."""
    from ..core.cmdb.formats import format_of, render

    try:
        fmt = format_of(file.name if file is not None else "", format_ or (None if file is not None else "json"))
    except ValueError as exc:
        usage(str(exc))
    if fmt == "csv" and relations_file is None:
        usage("CSV puts items and relations in two files: name the second with --relations FILE")
    client = state.client()
    document = _call(client.cmdb_export)
    first, second = render(document, fmt)
    _write(file, first)
    if second is not None:
        _write(relations_file, second)
    if file is not None:
        print(f"exported {len(document['items'])} item(s) and {len(document['relations'])} relation(s)")


def _write(path: Optional[Path], text: str) -> None:
    if path is None:
        print(text, end="")
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        usage(f"cannot write {path}: {exc.strerror or exc}")
