"""The lint's registry: each rule is a small function with a code, a severity, the engines and the
statements (by their verb) it applies to. A rule reads one statement (the sqlglot tree where sqlglot
parses it, the tokens where it cannot: DO blocks, routines, ``CREATE TYPE``, ``ALTER TYPE``…) and what
the script did before it (``Seen``), and yields ``(message, token)``: the token locates the finding
(None: the statement's start). Pure: no I/O, no global state beyond the registry itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable, Iterator

from sqlglot import exp

from ..script import Script, Statement, Token, depth0

Hit = tuple[str, "Token | None"]
BOTH = ("postgresql", "sqlite")
PG = ("postgresql",)


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    engines: frozenset[str]
    verbs: frozenset[str]  # the statements it judges, by their verb: create, drop, alter, insert, …
    check: Callable[["Subject"], Iterable[Hit]]

    @property
    def name(self) -> str:
        return self.check.__name__


RULES: list[Rule] = []


def rule(code: str, severity: str, *, verbs: Iterable[str], engines: Iterable[str] = BOTH):
    """Register the decorated function as a rule."""
    def register(check: Callable[["Subject"], Iterable[Hit]]):
        RULES.append(Rule(code, severity, frozenset(engines), frozenset(verbs), check))
        return check
    return register


@dataclass
class Seen:
    """What the script did before the statement being judged."""

    created: set[str] = field(default_factory=set)  # tables created (bare names): no lock worries for them
    dropped: set[tuple[str, str]] = field(default_factory=set)  # (kind, name): a CREATE after it repeats fine
    new_indexes: set[str] = field(default_factory=set)  # indexes created on tables the script created
    timeouts: dict[str, bool] = field(default_factory=dict)  # lock_timeout/statement_timeout: set other than 0?
    timeout_reported: bool = False  # a missing timeout is reported once per script
    not_null_checked: set[str] = field(default_factory=set)  # "table.column" with a validated IS NOT NULL check
    pending_checks: dict[str, str] = field(default_factory=dict)  # NOT VALID check name → "table.column"

    @property
    def timeout(self) -> bool:
        return any(self.timeouts.values())


def bare(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def qualified(toks, k: int) -> tuple[str, int]:
    """The (possibly schema-qualified) name starting at token k, and the index after it."""
    parts = []
    while k < len(toks) and toks[k].kind in ("word", "qident"):
        parts.append(toks[k].value)
        if k + 2 < len(toks) and toks[k + 1].text == "." and toks[k + 2].kind in ("word", "qident"):
            k += 2
            continue
        k += 1
        break
    return ".".join(parts), k


def table_name(table: exp.Expression | None) -> str:
    """``schema.table`` of a sqlglot Table (or of the Table inside a Schema)."""
    table = table.find(exp.Table) if table is not None and not isinstance(table, exp.Table) else table
    if table is None:
        return ""
    return ".".join(p for p in (table.db, table.name) if p)


class Subject:
    """One statement being judged, with what the script did before it."""

    def __init__(self, script: Script, stmt: Statement, seen: Seen):
        self.script, self.stmt, self.seen = script, stmt, seen
        self.tree = script.trees.get(stmt.index)
        self.toks = stmt.tokens
        self.vals = [t.value if t.kind == "word" else None for t in stmt.tokens]
        self.pg = script.engine == "postgresql"

    @cached_property
    def verb(self) -> str:
        """The statement's verb; for WITH … INSERT/UPDATE/DELETE, the main statement's."""
        first = self.stmt.words[0] if self.stmt.words else ""
        if first != "with":
            return first
        main = next((t for t in depth0(self.toks) if t.is_word("insert", "update", "delete", "merge")), None)
        return main.value if main else "select"

    def words_at(self, k: int, n: int) -> list[str | None]:
        return self.vals[k:k + n]

    def new_table(self, name: str) -> bool:
        return bare(name) in self.seen.created

    @cached_property
    def create(self):
        from .heads import create_head
        return create_head(self)

    @cached_property
    def drop(self):
        from .heads import drop_head
        return drop_head(self)

    @cached_property
    def alter(self):
        from .heads import alter_head
        return alter_head(self)


def apply(rules: Iterable[Rule], subject: Subject) -> Iterator[tuple[Rule, Hit]]:
    for r in rules:
        if subject.script.engine in r.engines and subject.verb in r.verbs:
            for hit in r.check(subject):
                yield r, hit
