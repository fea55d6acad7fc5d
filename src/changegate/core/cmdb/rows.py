"""Checking file rows against the policy and what is stored, and planning an import.

Import is an upsert by name: a new item is created, a stored item whose stated fields differ is
updated, the rest is unchanged; relations are created when their triple is new. Nothing is deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .formats import ItemRow, Problem, RelationRow
from .policy import CmdbPolicy, Criticality

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
DEFAULT_CRITICALITY = Criticality.MEDIUM.value
_LIMITS = {"name": 200, "owner": 200, "environment": 64, "description": 10_000}
STORED_FIELDS = ("type", "owner", "environment", "criticality", "description", "attributes")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an item, or None."""
    if not name or name != name.strip():
        return "a name must not be empty or start or end with spaces"
    if len(name) > _LIMITS["name"]:
        return f"a name has at most {_LIMITS['name']} characters"
    if _CONTROL.search(name):
        return "a name must not contain control characters"
    return None


def normalise(fields: Mapping[str, Any]) -> dict[str, Any]:
    """An empty criticality cell means the default."""
    out = dict(fields)
    if out.get("criticality", None) == "":
        out["criticality"] = DEFAULT_CRITICALITY
    return out


def _field_problem(key: str, value: Any, policy: CmdbPolicy) -> str | None:
    if key == "type" and value not in policy.item_types:
        return f"unknown item type {value!r} (types: {', '.join(policy.item_types)})"
    if key == "criticality" and value not in {c.value for c in Criticality}:
        return f"unknown criticality {value!r} (low, medium, high, critical)"
    if key in _LIMITS and isinstance(value, str) and len(value) > _LIMITS[key]:
        return f"at most {_LIMITS[key]} characters"
    if key in ("owner", "environment") and isinstance(value, str) and _CONTROL.search(value):
        return "must not contain control characters"
    return None


def item_problems(name: str, fields: Mapping[str, Any], policy: CmdbPolicy) -> list[tuple[str, str]]:
    """(field, sentence) for each thing wrong with one item."""
    found = []
    problem = name_problem(name)
    if problem:
        found.append(("name", problem))
    for key, value in fields.items():
        problem = _field_problem(key, value, policy)
        if problem:
            found.append((key, problem))
    return found


@dataclass
class Checked:
    items: dict[str, ItemRow] = field(default_factory=dict)  # valid item rows by name
    relations: list[RelationRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def check_items(rows: Iterable[ItemRow], policy: CmdbPolicy, out: Checked) -> None:
    first: dict[str, ItemRow] = {}
    for row in rows:
        fields = normalise(row.fields)
        bad = item_problems(row.name, fields, policy)
        for key, message in bad:
            out.problems.append(Problem(row.file, row.line, key, message))
        earlier = first.get(row.name)
        if earlier is not None:
            out.problems.append(Problem(row.file, row.line, "name", f"duplicate item {row.name!r} (first at "
                                                                    f"{earlier.file}:{earlier.line})"))
            out.items.pop(row.name, None)  # neither of two rows with one name is applied
            continue
        first[row.name] = row
        if not bad:
            out.items[row.name] = ItemRow(row.name, fields, row.file, row.line)


def check_relations(rows: Iterable[RelationRow], policy: CmdbPolicy, stored_names: set[str],
                    out: Checked) -> None:
    """``stored_names``: which of the named endpoints exist in the database already."""
    seen: dict[tuple[str, str, str], RelationRow] = {}
    types, items = policy.relation_types, out.items
    for row in rows:  # names bound locally: this loop runs five million times in a large import
        source, target, kind = row.source, row.target, row.type
        bad = False
        if kind not in types:
            out.problems.append(Problem(row.file, row.line, "type", f"unknown relation type {kind!r} (types: "
                                                                    f"{', '.join(types)})"))
            bad = True
        if source not in items and source not in stored_names:
            out.problems.append(Problem(row.file, row.line, "source", f"relation to a missing item {source!r}"))
            bad = True
        if target not in items and target not in stored_names:
            out.problems.append(Problem(row.file, row.line, "target", f"relation to a missing item {target!r}"))
            bad = True
        earlier = seen.setdefault((source, target, kind), row)
        if earlier is not row:
            out.problems.append(Problem(row.file, row.line, "", f"duplicate relation (first at {earlier.file}:"
                                                                f"{earlier.line})"))
            continue
        if not bad:
            out.relations.append(row)


def changed_fields(stored: Mapping[str, Any], stated: Mapping[str, Any]) -> dict[str, Any]:
    """The stated fields whose value differs from the stored one."""
    return {k: v for k, v in stated.items() if stored.get(k) != v}


def new_item(name: str, stated: Mapping[str, Any]) -> dict[str, Any]:
    """A full item row from the stated fields and the defaults."""
    return {"name": name, "type": stated["type"], "owner": stated.get("owner", ""),
            "environment": stated.get("environment", ""),
            "criticality": stated.get("criticality", DEFAULT_CRITICALITY),
            "description": stated.get("description", ""), "attributes": dict(stated.get("attributes", {}))}
