"""``not_repeatable``: statements that fail, or do their work again, on a second run."""

from __future__ import annotations

from sqlglot import exp

from ..script import ERROR, WARNING, depth0
from .base import PG, Subject, rule

_IF_NOT_EXISTS_KINDS = {"table", "index", "sequence", "schema", "extension", "statistics", "collation"}
_OR_REPLACE_KINDS = {"view", "function", "procedure", "trigger", "aggregate", "language", "rule"}
_NEEDS_GUARD = {"type", "domain", "policy", "cast", "operator", "publication"}


def _catalog_guard(s: Subject) -> str:
    """How to make a statement that has no IF [NOT] EXISTS repeatable, per engine."""
    if s.pg:
        return "guard it in a DO block that checks the catalog"
    return ("SQLite cannot guard it: rebuild the table instead (CREATE TABLE IF NOT EXISTS under the new name, "
            "INSERT OR IGNORE … SELECT, DROP TABLE IF EXISTS the old one)")


def _judged_create(s: Subject):
    """The CREATE head, or None for temporary objects and incomplete statements (nothing to judge)."""
    c = s.create
    return None if c.temporary or not c.kind else c


@rule("not_repeatable", ERROR, verbs={"create"})
def create_index_without_name(s: Subject):
    c = _judged_create(s)
    if c and c.kind == "index" and not c.name:
        yield "CREATE INDEX without a name creates another index on every run", None


def _wants_if_not_exists(s: Subject, c) -> bool:
    if c.kind == "index" and not c.name:
        return False  # create_index_without_name says it
    return c.kind in _IF_NOT_EXISTS_KINDS or c.label == "materialized view" or \
        (c.kind in ("view", "trigger") and not s.pg)


@rule("not_repeatable", ERROR, verbs={"create"})
def create_without_if_not_exists(s: Subject):
    c = _judged_create(s)
    if c and _wants_if_not_exists(s, c) and not c.if_not_exists and (c.kind, c.name) not in s.seen.dropped:
        yield f"CREATE {c.label.upper()} {c.name} without IF NOT EXISTS fails when it already exists", None


@rule("not_repeatable", ERROR, verbs={"create"}, engines=PG)
def create_without_or_replace(s: Subject):
    c = _judged_create(s)
    if c and c.kind in _OR_REPLACE_KINDS and c.label != "materialized view" and not c.replace \
            and (c.kind, c.name) not in s.seen.dropped:
        yield f"CREATE {c.kind.upper()} {c.name} without OR REPLACE fails when it already exists", None


@rule("not_repeatable", ERROR, verbs={"create"})
def create_without_drop_first(s: Subject):
    c = _judged_create(s)
    if c and c.kind in _NEEDS_GUARD and not c.if_not_exists and (c.kind, c.name) not in s.seen.dropped:
        how = f"drop it first with DROP {c.kind.upper()} IF EXISTS"
        if s.pg:
            how += ", or create it in a DO block that checks the catalog"
        yield f"CREATE {c.kind.upper()} {c.name} fails when it already exists: {how}", None


@rule("not_repeatable", ERROR, verbs={"drop"})
def drop_without_if_exists(s: Subject):
    d = s.drop
    if d.kind != "owned" and not d.if_exists:
        yield f"DROP {d.label.upper()} {d.name} without IF EXISTS fails when it is already gone", None


@rule("not_repeatable", ERROR, verbs={"alter"}, engines=PG)
def alter_type_not_repeatable(s: Subject):
    a = s.alter
    if a.kind != "type":
        return
    rest = [v for v in a.rest if v]
    if rest[:2] == ["add", "value"] and rest[2:5] != ["if", "not", "exists"]:
        yield f"ALTER TYPE {a.name} ADD VALUE without IF NOT EXISTS fails when the value exists", None
    elif rest[:1] == ["rename"]:
        yield f"ALTER TYPE {a.name} RENAME fails on the second run", None


@rule("not_repeatable", ERROR, verbs={"alter"})
def alter_rename_not_repeatable(s: Subject):
    a = s.alter
    if a.kind in ("index", "sequence", "view", "materialized") and a.rest[:1] == ["rename"] and not a.if_exists:
        yield f"ALTER {a.kind.upper()} {a.name} RENAME fails on the second run (the old name is gone)", None


@rule("not_repeatable", ERROR, verbs={"alter"})
def alter_table_rename(s: Subject):
    a = s.alter
    for act in a.actions:
        w = act.words
        if (w[0] == "rename" or w[:2] == ["set", "schema"]) and not (a.if_exists and w[:2] == ["rename", "to"]):
            yield (f"ALTER TABLE {a.name} {w[0].upper()} fails on the second run (the old name is gone); "
                   f"{_catalog_guard(s)}"), act.head


def is_add_constraint(words: list[str]) -> bool:
    return words[:1] == ["add"] and (words[1:2] == ["constraint"] or
                                     (len(words) > 1 and words[1] in ("primary", "unique", "check", "foreign",
                                                                      "exclude")))


def _dropped_in_statement(actions, upto: int) -> set[tuple[str, str]]:
    """(kind, name) dropped by the actions of this ALTER TABLE before action ``upto``."""
    from .state import dropped_by
    return {d for act in actions[:upto] for d in [dropped_by(act)] if d}


@rule("not_repeatable", ERROR, verbs={"alter"})
def add_constraint_not_repeatable(s: Subject):
    a = s.alter
    for i, act in enumerate(a.actions):
        if not is_add_constraint(act.words):
            continue
        cname = act.tokens[2].value if act.words[1] == "constraint" and len(act.tokens) > 2 else ""
        if not cname:
            yield (f"ALTER TABLE {a.name} ADD of an unnamed constraint fails or adds a duplicate on the second "
                   "run"), act.head
        elif ("constraint", cname) not in s.seen.dropped | _dropped_in_statement(a.actions, i):
            yield (f"ALTER TABLE {a.name} ADD CONSTRAINT {cname} fails when it exists: drop it first with "
                   f"DROP CONSTRAINT IF EXISTS {cname}"), act.head


def add_column(act) -> tuple[bool, int] | None:
    """For ADD [COLUMN] [IF NOT EXISTS] name …: (has IF NOT EXISTS, index of the column's name)."""
    w = act.words
    if w[:1] != ["add"] or is_add_constraint(w):
        return None
    j = 1 + (w[1:2] == ["column"])
    ine = w[j:j + 3] == ["if", "not", "exists"]
    return ine, j + 3 * ine


@rule("not_repeatable", ERROR, verbs={"alter"})
def add_column_without_if_not_exists(s: Subject):
    a = s.alter
    for act in a.actions:
        col = add_column(act)
        if col and not col[0]:
            name = f"{a.name}.{act.tokens[col[1]].value}" if col[1] < len(act.tokens) else a.name
            hint = "" if s.pg else " (SQLite has no ADD COLUMN IF NOT EXISTS: it cannot be repeated)"
            yield f"ADD COLUMN {name} without IF NOT EXISTS fails when the column exists{hint}", act.head


@rule("not_repeatable", ERROR, verbs={"alter"})
def drop_column_without_if_exists(s: Subject):
    from .state import dropped_by
    a = s.alter
    for act in a.actions:
        d = dropped_by(act)
        if d and act.words[1 + (act.words[1:2] == [d[0]]):][:2] != ["if", "exists"]:
            yield f"DROP {d[0].upper()} {a.name}.{d[1]} without IF EXISTS fails when it is already gone", act.head


# --- data ---------------------------------------------------------------------------------------

def _insert_guarded_by_tree(tree: exp.Insert) -> bool:
    if tree.args.get("conflict") or (tree.args.get("alternative") or "").upper() in ("IGNORE", "REPLACE"):
        return True
    negated = (isinstance(n.this, (exp.Exists, exp.In)) for n in tree.find_all(exp.Not))
    return any(negated) or tree.find(exp.Except) is not None


def _insert_guarded_by_tokens(s: Subject) -> bool:
    d0 = [t.value for t in depth0(s.toks) if t.kind == "word"]
    words = [v for v in s.vals if v]
    return ("conflict" in d0 or d0[1:3] in (["or", "ignore"], ["or", "replace"]) or "except" in words
            or any(words[j:j + 2] in (["not", "exists"], ["not", "in"]) for j in range(len(words))))


@rule("not_repeatable", ERROR, verbs={"insert", "replace"})
def insert_without_guard(s: Subject):
    if s.verb == "replace":
        return  # REPLACE INTO replaces the row: repeatable
    guarded = _insert_guarded_by_tree(s.tree) if isinstance(s.tree, exp.Insert) else _insert_guarded_by_tokens(s)
    if not guarded:
        yield ("INSERT without ON CONFLICT" + (" / OR IGNORE" if not s.pg else "") +
               " or WHERE NOT EXISTS adds the rows again on every run"), None


@rule("not_repeatable", ERROR, verbs={"copy"})
def copy_from_stdin(s: Subject):
    if s.stmt.copy_data is not None:
        yield "COPY … FROM stdin loads the rows again on every run", None


@rule("not_repeatable", ERROR, verbs={"select"}, engines=PG)
def select_into(s: Subject):
    if isinstance(s.tree, exp.Select) and s.tree.args.get("into"):
        yield "SELECT … INTO creates a table and fails when it already exists", None


@rule("not_repeatable", WARNING, verbs={"update"})
def update_from_own_value(s: Subject):
    if not isinstance(s.tree, exp.Update):
        return
    for eq in s.tree.expressions:
        if not isinstance(eq, exp.EQ) or not isinstance(eq.this, exp.Column):
            continue
        target, rhs = eq.this.name, eq.expression
        if isinstance(rhs, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.DPipe, exp.Concat)) and \
                any(c.name == target for c in rhs.find_all(exp.Column)):
            yield (f"UPDATE sets {target} from its own value: a second run applies it again unless the WHERE "
                   "clause excludes rows already updated"), None
