"""PostgreSQL locks on tables that already exist (not created earlier in the script): ``long_lock`` for
statements that hold a strong lock while they scan or rewrite a table, ``lock_timeout`` for strong locks
taken with no timeout in force, ``not_null_without_default`` for columns that cannot be added to a table
with rows. (After squawk's rules: require-timeout-settings, require-concurrent-index-creation and
-deletion, adding-not-nullable-field, constraint-missing-not-valid, adding-field-with-default.)"""

from __future__ import annotations

from ..script import WARNING
from .base import PG, Subject, rule
from .repeatable import add_column, is_add_constraint

_VOLATILE = {"random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
             "clock_timestamp", "timeofday", "nextval", "txid_current", "uuid_generate_v7"}
SERIAL = {"serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"}


def _existing_table_actions(s: Subject):
    """The actions of an ALTER TABLE on a table the script did not create."""
    return [] if s.new_table(s.alter.name) else s.alter.actions


@rule("long_lock", WARNING, verbs={"create"}, engines=PG)
def create_index_without_concurrently(s: Subject):
    c = s.create
    if c.kind == "index" and not c.concurrently and not s.new_table(c.table):
        yield f"CREATE INDEX without CONCURRENTLY blocks writes to {c.table} while the index builds", None


@rule("long_lock", WARNING, verbs={"drop"}, engines=PG)
def drop_index_without_concurrently(s: Subject):
    d = s.drop
    if d.kind == "index" and not d.concurrently and d.name not in s.seen.new_indexes:
        yield (f"DROP INDEX {d.name} without CONCURRENTLY blocks reads and writes of its table until the index "
               "is dropped: use DROP INDEX CONCURRENTLY IF EXISTS (it runs outside a transaction block)"), None


@rule("long_lock", WARNING, verbs={"alter"}, engines=PG)
def add_constraint_with_a_scan(s: Subject):
    name = s.alter.name
    for act in _existing_table_actions(s):
        w = act.words
        if not is_add_constraint(w):
            continue
        if any(v in ("foreign", "check") for v in w) and "valid" not in w:
            yield (f"ADD CONSTRAINT on {name} checks every row while holding a lock: add it NOT VALID, then "
                   "VALIDATE CONSTRAINT"), act.head
        elif any(v in ("primary", "unique", "exclude") for v in w) and "using" not in w[:6]:
            yield (f"ADD CONSTRAINT on {name} builds an index while blocking writes: build it with CREATE UNIQUE "
                   "INDEX CONCURRENTLY, then ADD CONSTRAINT … USING INDEX"), act.head


def _column_words(act, at: int) -> list[str]:
    return [v.lower() for v in act.words[at:]]


def _added_columns(s: Subject):
    """Each ADD COLUMN on a table the script did not create: (action, column, the words from the column on)."""
    for act in _existing_table_actions(s):
        col = add_column(act)
        if col:
            yield act, col, _column_words(act, col[1])


@rule("long_lock", WARNING, verbs={"alter"}, engines=PG)
def add_column_rewrites_table(s: Subject):
    name = s.alter.name
    for act, col, words in _added_columns(s):
        default_at = words.index("default") if "default" in words else -1
        volatile = sorted(f for f in _VOLATILE if f in words[default_at:]) if default_at >= 0 else []
        if set(words) & SERIAL:
            volatile.append("nextval (serial)")
        if volatile or ("generated" in words and "stored" in words):
            why = f"a volatile default ({', '.join(volatile)})" if volatile else "a stored generated value"
            yield (f"ADD COLUMN {name}.{act.tokens[col[1]].value} with {why} rewrites {name} under an ACCESS "
                   "EXCLUSIVE lock: add it without the default, then fill it in batches"), act.head


@rule("not_null_without_default", WARNING, verbs={"alter"})
def add_not_null_column_without_default(s: Subject):
    name = s.alter.name
    for act, col, words in _added_columns(s):
        not_null = "not" in words and words[words.index("not") + 1:words.index("not") + 2] == ["null"]
        if not_null and "default" not in words and "generated" not in words and not set(words) & SERIAL:
            yield (f"ADD COLUMN {name}.{act.tokens[col[1]].value} NOT NULL without a DEFAULT fails on a table "
                   "that has rows"), act.head


def altered_column(act) -> tuple[str, list[str]] | None:
    """For ALTER [COLUMN] name …: the column and the words after it."""
    w = act.words
    if w[:1] != ["alter"]:
        return None
    j = 1 + (w[1:2] == ["column"])
    return (act.tokens[j].value if j < len(act.tokens) else ""), w[j + 1:]


@rule("long_lock", WARNING, verbs={"alter"}, engines=PG)
def alter_column_type(s: Subject):
    name = s.alter.name
    for act in _existing_table_actions(s):
        col = altered_column(act)
        if col and (col[1][:1] == ["type"] or col[1][:3] == ["set", "data", "type"]):
            yield f"ALTER COLUMN {name}.{col[0]} TYPE may rewrite {name} under an ACCESS EXCLUSIVE lock", act.head


@rule("long_lock", WARNING, verbs={"alter"}, engines=PG)
def set_not_null(s: Subject):
    """On a table with rows SET NOT NULL scans every row under an ACCESS EXCLUSIVE lock, unless a validated
    CHECK (column IS NOT NULL) constraint proves it already (PostgreSQL 12+)."""
    name = s.alter.name
    for act in _existing_table_actions(s):
        col = altered_column(act)
        if col and col[1][:3] == ["set", "not", "null"] and \
                f"{name}.{col[0]}".lower() not in s.seen.not_null_checked:
            yield (f"SET NOT NULL on {name}.{col[0]} scans every row under an ACCESS EXCLUSIVE lock: first ADD "
                   f"CONSTRAINT … CHECK ({col[0]} IS NOT NULL) NOT VALID and VALIDATE CONSTRAINT it (neither "
                   "blocks writes for long), then SET NOT NULL skips the scan"), act.head


def strong_lock(s: Subject) -> tuple[str, str] | None:
    """(lock, table) for a statement that takes a strong lock on a table the script did not create."""
    v = s.verb
    if v == "alter" and s.alter.kind == "table" and not s.new_table(s.alter.name):
        return "ACCESS EXCLUSIVE", s.alter.name
    if v == "create" and s.create.kind in ("index", "trigger") and s.create.table and \
            not s.create.concurrently and not s.new_table(s.create.table):
        return ("SHARE" if s.create.kind == "index" else "SHARE ROW EXCLUSIVE"), s.create.table
    if v == "drop" and (s.drop.kind == "table" and not s.new_table(s.drop.name) or
                        s.drop.kind == "index" and not s.drop.concurrently and s.drop.name not in s.seen.new_indexes):
        return "ACCESS EXCLUSIVE", s.drop.name if s.drop.kind == "table" else f"the table of index {s.drop.name}"
    if v in ("truncate", "lock", "cluster", "reindex", "refresh") and "concurrently" not in s.vals[:4]:
        return "ACCESS EXCLUSIVE", " ".join(t.text for t in s.toks[1:4])
    return None


@rule("lock_timeout", WARNING, verbs={"alter", "create", "drop", "truncate", "lock", "cluster", "reindex",
                                      "refresh"}, engines=PG)
def strong_lock_without_timeout(s: Subject):
    """Behind a long transaction a strong lock waits, and every query on the table queues behind it: with a
    lock_timeout the statement fails instead (and the script can be run again). Reported once per script."""
    if s.seen.timeout or s.seen.timeout_reported:
        return
    found = strong_lock(s)
    if found:
        lock, table = found
        kind = {"alter": "table", "create": s.create.kind if s.verb == "create" else "",
                "drop": s.drop.kind if s.verb == "drop" else ""}.get(s.verb, "")
        what = f"{s.verb} {kind}".strip().upper()
        yield (f"{what} takes a{'n' * (lock[0] in 'AEIOU')} {lock} lock on {table} with no lock_timeout set "
               "earlier in the script: while it waits for the lock, every query on the table queues behind it; "
               "start the script with SET lock_timeout = '5s' (or a statement_timeout)"), None
