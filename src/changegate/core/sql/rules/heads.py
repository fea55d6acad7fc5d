"""The heads of DDL statements read from tokens: CREATE, DROP and ALTER take forms sqlglot keeps as an
opaque Command (CREATE FUNCTION/TRIGGER/DOMAIN/POLICY, ALTER TYPE, … NOT VALID), so the rules read the
same head for every form."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..script import Token, depth0
from .base import Subject, qualified

_CREATE_MODIFIERS = {"or", "replace", "global", "local", "temp", "temporary", "unlogged", "unique", "materialized",
                     "recursive", "trusted", "procedural", "constraint", "event", "virtual"}


@dataclass(frozen=True)
class CreateHead:
    kind: str  # table, index, view, function, …
    label: str  # "materialized view" for one, else kind
    name: str
    if_not_exists: bool
    replace: bool
    temporary: bool
    concurrently: bool
    table: str  # CREATE INDEX … ON table, CREATE TRIGGER … ON table; else ""


def create_head(s: Subject) -> CreateHead:
    vals, toks = s.vals, s.toks
    k, mods = 1, []
    while k < len(toks) and vals[k] in _CREATE_MODIFIERS:
        mods.append(vals[k])
        k += 1
    kind = (vals[k] if k < len(toks) else "") or ""
    k += 1
    concurrently = k < len(toks) and vals[k] == "concurrently"
    k += concurrently
    if_not_exists = vals[k:k + 3] == ["if", "not", "exists"]
    k += 3 * if_not_exists
    unnamed = kind == "index" and k < len(toks) and vals[k] == "on"
    name, k = ("", k) if unnamed else qualified(toks, k)
    return CreateHead(kind, "materialized view" if "materialized" in mods else kind, name, if_not_exists,
                      "replace" in mods, "temp" in mods or "temporary" in mods, concurrently, _on_table(s, k))


def _on_table(s: Subject, k: int) -> str:
    on = next((j for j in range(k, len(s.toks)) if s.vals[j] == "on"), None)
    if on is None:
        return ""
    return qualified(s.toks, on + 1 + (s.vals[on + 1:on + 2] == ["only"]))[0]


@dataclass(frozen=True)
class DropHead:
    kind: str
    label: str
    name: str
    if_exists: bool
    concurrently: bool
    cascade: bool


def drop_head(s: Subject) -> DropHead:
    vals, toks = s.vals, s.toks
    k = 1 + (len(toks) > 2 and vals[1] == "materialized")
    kind = (vals[k] if k < len(toks) else "") or ""
    label = "materialized view" if k == 2 else kind
    k += 1
    concurrently = k < len(toks) and vals[k] == "concurrently"
    k += concurrently
    if_exists = vals[k:k + 2] == ["if", "exists"]
    name, _ = qualified(toks, k + 2 * if_exists)
    cascade = any(t.is_word("cascade") for t in depth0(toks))
    return DropHead(kind, label, name, if_exists, concurrently, cascade)


@dataclass(frozen=True)
class Action:
    """One action of ALTER TABLE (split at depth-0 commas)."""

    tokens: list[Token]
    words: list[str]  # lower-case words, other tokens as written

    @property
    def head(self) -> Token:
        return self.tokens[0]


@dataclass(frozen=True)
class AlterHead:
    kind: str  # table, type, index, sequence, view, materialized
    name: str
    if_exists: bool
    rest: list[str | None]  # the words after the name
    actions: list[Action] = field(default_factory=list)


def alter_head(s: Subject) -> AlterHead:
    vals, toks = s.vals, s.toks
    kind = (vals[1] if len(toks) > 1 else "") or ""
    k = 2 + (kind == "materialized")
    if_exists = vals[k:k + 2] == ["if", "exists"]
    k += 2 * if_exists
    k += k < len(toks) and vals[k] == "only"
    name, k = qualified(toks, k)
    actions = _actions(toks[k:]) if kind == "table" else []
    return AlterHead(kind, name, if_exists, vals[k:], actions)


def _actions(toks) -> list[Action]:
    groups: list[list[Token]] = [[]]
    depth = 0
    for t in toks:
        depth += (t.text == "(") - (t.text == ")")
        if t.text == "," and depth == 0:
            groups.append([])
        else:
            groups[-1].append(t)
    return [Action(g, [t.value if t.kind == "word" else t.text for t in g]) for g in groups if g]
