"""``destructive``: statements that delete data, listed for approvers."""

from __future__ import annotations

from sqlglot import exp

from ..script import WARNING, depth0
from .base import Subject, qualified, rule, table_name


@rule("destructive", WARNING, verbs={"drop"})
def drop_deletes_data(s: Subject):
    d = s.drop
    if d.kind == "table" or (d.kind == "schema" and d.cascade):
        yield f"DROP {d.kind.upper()} {d.name} deletes its data", None
    elif d.cascade and d.kind != "owned":
        yield f"DROP {d.label.upper()} {d.name} CASCADE also drops whatever depends on it", None


@rule("destructive", WARNING, verbs={"alter"})
def drop_column_deletes_data(s: Subject):
    from .state import dropped_by
    for act in s.alter.actions:
        d = dropped_by(act)
        if d and d[0] == "column":
            yield f"DROP COLUMN {s.alter.name}.{d[1]} deletes its data", act.head


def _target_and_where(s: Subject) -> tuple[str, bool]:
    """The table an UPDATE or DELETE changes, and whether it has a WHERE clause."""
    if isinstance(s.tree, (exp.Update, exp.Delete)):
        return table_name(s.tree.this), s.tree.args.get("where") is not None
    d0 = depth0(s.toks)  # not parsed as a tree (a parser failure): read the tokens
    at0 = {id(t) for t in d0}
    j = next((j for j, t in enumerate(s.toks) if t.is_word("update", "from") and id(t) in at0), len(s.toks))
    j += 1 + (j + 1 < len(s.toks) and s.toks[j + 1].is_word("only"))
    return qualified(s.toks, j)[0], any(t.is_word("where") for t in d0)


@rule("destructive", WARNING, verbs={"update", "delete"})
def every_row(s: Subject):
    target, where = _target_and_where(s)
    if not where:
        what = "changes every row of" if s.verb == "update" else "removes every row of"
        yield f"{s.verb.upper()} without WHERE {what} {target}", None


@rule("destructive", WARNING, verbs={"truncate"})
def truncate(s: Subject):
    k = 1 + (len(s.toks) > 1 and s.vals[1] == "table")
    k += k < len(s.toks) and s.vals[k] == "only"
    yield f"TRUNCATE {qualified(s.toks, k)[0]} deletes all its rows", None
