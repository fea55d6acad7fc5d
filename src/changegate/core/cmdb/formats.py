"""CMDB files: CSV, JSON and YAML in, rows out, every problem named by file and line.

An items CSV has the header ``name,type`` plus optional ``criticality,owner,environment,description``
and ``attr.<key>`` columns; a relations CSV has ``source,target,type``. A JSON or YAML file is a
mapping with an ``items`` list and/or a ``relations`` list of objects with the same fields (an item's
free attributes under ``attributes``). A column or key that is absent leaves the stored value as it
is; the checks against the policy and the stored items are in ``core/cmdb/rows.py``.
"""

from __future__ import annotations

import csv
import io
import json
from sys import intern
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

FORMATS = ("csv", "json", "yaml")
ITEM_FIELDS = ("name", "type", "criticality", "owner", "environment", "description")
RELATION_FIELDS = ("source", "target", "type")
_EXTENSIONS = {"csv": "csv", "json": "json", "yaml": "yaml", "yml": "yaml"}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}" if self.field else \
            f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One item as a file gives it: ``fields`` holds only what the file states."""

    name: str
    fields: dict[str, Any]
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class RelationRow:
    source: str
    target: str
    type: str
    file: str
    line: int


@dataclass
class Parsed:
    items: list[ItemRow] = field(default_factory=list)
    relations: list[RelationRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def format_of(filename: str, given: str | None = None) -> str:
    """The format ``--format`` names, else the one the extension tells."""
    if given:
        if given not in FORMATS:
            raise ValueError(f"unknown format {given!r} (formats: {', '.join(FORMATS)})")
        return given
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext not in _EXTENSIONS:
        raise ValueError(f"{filename}: cannot tell the format from the extension; name it with --format "
                         f"({', '.join(FORMATS)})")
    return _EXTENSIONS[ext]


def parse(filename: str, data: bytes, fmt: str, progress: Callable[[int], None] | None = None) -> Parsed:
    """Rows of one file; ``progress`` is told how many bytes were read so far (CSV)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return Parsed(problems=[Problem(filename, line, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x})")])
    if fmt == "csv":
        return _parse_csv(filename, text, progress)
    return _parse_document(filename, text, fmt)


# --- CSV -------------------------------------------------------------------------------------------


def _parse_csv(filename: str, text: str, progress: Callable[[int], None] | None) -> Parsed:
    out = Parsed()
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        out.problems.append(Problem(filename, reader.line_num, "", f"bad quoting: {exc}"))
        return out
    if header is None:
        out.problems.append(Problem(filename, 1, "", "empty file: expected a header (name,type,… or source,target,type)"))
        return out
    header = [h.strip() for h in header]
    kind, problem = _kind_of(header)
    if problem:
        out.problems.append(Problem(filename, 1, "", problem))
        return out
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.problems.append(Problem(filename, line, "", f"bad quoting: {exc}"))
            break
        if cells and not (len(cells) == 1 and not cells[0].strip()):
            _csv_row(out, filename, line, header, cells, kind)
        line = reader.line_num + 1
        if progress is not None and line % 10_000 == 0:
            progress(line)
    return out


def _kind_of(header: list[str]) -> tuple[str, str | None]:
    """'items' or 'relations' from a CSV header, or a sentence saying what is wrong with it."""
    seen = set()
    for name in header:
        if name in seen:
            return "", f"column {name!r} appears twice in the header"
        seen.add(name)
    if {"source", "target"} & seen:
        if set(header) != set(RELATION_FIELDS):
            return "", (f"a relations file has exactly the columns source,target,type; this header has "
                        f"{','.join(header)}")
        return "relations", None
    missing = [c for c in ("name", "type") if c not in seen]
    if missing:
        return "", (f"missing column(s) {','.join(missing)}: an items file starts with name,type; a relations "
                    "file has source,target,type")
    unknown = [c for c in header if c not in ITEM_FIELDS and not (c.startswith("attr.") and len(c) > 5)]
    if unknown:
        return "", (f"unknown column(s) {','.join(unknown)} (item columns: {','.join(ITEM_FIELDS)} and "
                    "attr.<key>)")
    return "items", None


def _csv_row(out: Parsed, filename: str, line: int, header: list[str], cells: list[str], kind: str) -> None:
    if len(cells) != len(header):
        out.problems.append(Problem(filename, line, "", f"{len(cells)} field(s) where the header has {len(header)}"))
        return
    row = dict(zip(header, cells))
    if kind == "relations":
        # interned: a relations file names each item many times, and at 5M rows the copies cost gigabytes
        out.relations.append(RelationRow(intern(row["source"]), intern(row["target"]), intern(row["type"]),
                                         filename, line))
        return
    fields: dict[str, Any] = {k: v for k, v in row.items() if k in ITEM_FIELDS and k != "name"}
    attributes = {k[5:]: v for k, v in row.items() if k.startswith("attr.") and v != ""}
    if any(k.startswith("attr.") for k in header):
        fields["attributes"] = attributes
    out.items.append(ItemRow(row["name"], fields, filename, line))


def to_csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


# --- JSON and YAML ---------------------------------------------------------------------------------


def _parse_document(filename: str, text: str, fmt: str) -> Parsed:
    out = Parsed()
    lines: Callable[[tuple], int]
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            out.problems.append(Problem(filename, exc.lineno, "", f"malformed JSON: {exc.msg}"))
            return out
        lines = _json_lines(filename, text)
    else:
        from ..policy.yamlsource import YamlSourceError, parse_yaml

        try:
            doc = parse_yaml(text, filename)
        except YamlSourceError as exc:
            out.problems.extend(_problem_of(filename, p) for p in exc.problems)
            return out
        data, lines = doc.data, lambda path: doc.line_of(path) or 1
    if data is None:
        return out
    if not isinstance(data, dict) or set(data) - {"items", "relations"}:
        out.problems.append(Problem(filename, 1, "", "expected a mapping with 'items' and/or 'relations' lists"))
        return out
    _document_items(out, filename, data.get("items") or [], lines)
    _document_relations(out, filename, data.get("relations") or [], lines)
    return out


def _problem_of(filename: str, text: str) -> Problem:
    """A yamlsource problem ('file:line[:col]: rest') as a Problem."""
    parts = text[len(filename) + 1:].split(":", 1)
    line = int(parts[0]) if parts[0].isdigit() else 1
    return Problem(filename, line, "", parts[-1].lstrip(" 0123456789:").strip() if len(parts) > 1 else text)


def _json_lines(filename: str, text: str) -> Callable[[tuple], int]:
    """Lines of JSON values, worked out only when a problem needs one (JSON is YAML; reading it as YAML
    is slow, so not for every file)."""
    cache: dict = {}

    def line_of(path: tuple) -> int:
        if "doc" not in cache:
            from ..policy.yamlsource import YamlSourceError, parse_yaml

            try:
                cache["doc"] = parse_yaml(text, filename)
            except YamlSourceError:
                cache["doc"] = None
        doc = cache["doc"]
        return (doc.line_of(path) or 1) if doc is not None else 1

    return line_of


def _document_items(out: Parsed, filename: str, items: Any, lines: Callable[[tuple], int]) -> None:
    if not isinstance(items, list):
        out.problems.append(Problem(filename, lines(("items",)), "items", "expected a list of items"))
        return
    allowed = set(ITEM_FIELDS) | {"attributes"}
    for i, entry in enumerate(items):
        where = f"items[{i}]"
        if not isinstance(entry, dict):
            out.problems.append(Problem(filename, lines(("items", i)), where, "expected a mapping (name, type, …)"))
            continue
        unknown = sorted(str(k) for k in entry if k not in allowed)
        if unknown:
            out.problems.append(Problem(filename, lines(("items", i, unknown[0])), f"{where}.{unknown[0]}",
                                        f"unknown field (fields: {', '.join(ITEM_FIELDS)}, attributes)"))
            continue
        bad = _non_text(entry, ("name", *ITEM_FIELDS[1:]))
        if bad or not isinstance(entry.get("attributes", {}), dict):
            key = bad or "attributes"
            out.problems.append(Problem(filename, lines(("items", i, key)), f"{where}.{key}",
                                        "expected text" if bad else "expected a mapping of attributes"))
            continue
        if "name" not in entry or "type" not in entry:
            out.problems.append(Problem(filename, lines(("items", i)), where, "an item needs a name and a type"))
            continue
        fields = {k: v for k, v in entry.items() if k != "name"}
        out.items.append(ItemRow(entry["name"], fields, filename, lines(("items", i))))


def _document_relations(out: Parsed, filename: str, relations: Any, lines: Callable[[tuple], int]) -> None:
    if not isinstance(relations, list):
        out.problems.append(Problem(filename, lines(("relations",)), "relations", "expected a list of relations"))
        return
    for i, entry in enumerate(relations):
        where = f"relations[{i}]"
        if not isinstance(entry, dict) or set(entry) != set(RELATION_FIELDS) or _non_text(entry, RELATION_FIELDS):
            out.problems.append(Problem(filename, lines(("relations", i)), where,
                                        "a relation is a mapping of exactly source, target and type, each text"))
            continue
        out.relations.append(RelationRow(entry["source"], entry["target"], entry["type"], filename,
                                         lines(("relations", i))))


def _non_text(entry: dict, keys: Iterable[str]) -> str | None:
    return next((k for k in keys if k in entry and not isinstance(entry[k], str)), None)


def render(document: dict, fmt: str) -> tuple[str, str | None]:
    """An export document as file text: (items, relations) for CSV, (everything, None) otherwise."""
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n", None
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True), None
    keys = sorted({k for item in document["items"] for k in item.get("attributes", {})})
    items = to_csv([*ITEM_FIELDS, *(f"attr.{k}" for k in keys)],
                   ([*(item.get(f, "") for f in ITEM_FIELDS),
                     *(_cell(item.get("attributes", {}).get(k)) for k in keys)] for item in document["items"]))
    relations = to_csv(RELATION_FIELDS, ([r["source"], r["target"], r["type"]] for r in document["relations"]))
    return items, relations


def _cell(value: Any) -> str:
    """CSV attributes are text; other JSON values are written as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)
