"""Fingerprints of a scratch database, built from catalog queries, and their differences as sentences.

A fingerprint is a sorted map ``(kind, name) -> {attribute: text}``: schema objects (tables, columns
with type, default and nullability, constraints, indexes, views, triggers, functions, sequences, types,
policies, extensions, schemas) and, for every table, its row count and an order-independent checksum
of its rows. Two databases with the same objects and the same rows have equal fingerprints, whatever
the order things were created in. Raw dumps are never compared.

Not compared, on purpose: ownership, privileges and comments; sequence positions (``nextval`` is
not transactional and runs even for an ``INSERT … ON CONFLICT DO NOTHING`` that inserts nothing);
the rows of materialized views (derived data).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..core.sql.lint import normalise_sql, sqlite_checks

Entries = dict[tuple[str, str], dict[str, Any]]


@dataclass
class Fingerprint:
    entries: Entries = field(default_factory=dict)

    def digest(self) -> str:
        canon = sorted([k, sorted(v.items())] for k, v in self.entries.items())
        return hashlib.sha256(json.dumps(canon, default=str).encode()).hexdigest()

    def to_dict(self) -> dict:
        out: dict[str, dict] = {}
        for (kind, name), attrs in sorted(self.entries.items()):
            out.setdefault(kind, {})[name] = attrs
        return out


@dataclass(frozen=True)
class Difference:
    kind: str  # table, column, index, rows, ...
    name: str
    change: str  # extra | missing | changed
    attribute: str = ""
    before: Any = None
    after: Any = None
    note: bool = False  # informative only (a column's position): does not fail a property

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "change": self.change, "attribute": self.attribute or None,
                "before": self.before, "after": self.after, "note": self.note}


def diff(before: Fingerprint, after: Fingerprint) -> list[Difference]:
    """What changed from before to after, most significant first; children of added or removed tables are
    folded into the table."""
    a, b = before.entries, after.entries
    folded = _added_or_removed_tables(a, b)
    out: list[Difference] = []
    for key in sorted(set(a) | set(b), key=lambda k: (_ORDER.get(k[0], 50), k[1])):
        owner = (a.get(key) or b.get(key) or {}).get("table")
        if key[0] == "table" or owner not in folded:
            out.extend(_entry_diffs(key[0], key[1], a.get(key), b.get(key)))
    # a table whose columns changed has different row texts: its column sentences say it already
    reshaped = {(a.get(("column", d.name)) or b.get(("column", d.name)) or {}).get("table")
                for d in out if d.kind == "column" and not d.note}
    return [d for d in out if not (d.kind == "rows" and d.attribute == "contents" and d.name in reshaped)]


def _added_or_removed_tables(a: Entries, b: Entries) -> set[str]:
    return {n for (k, n) in a.keys() ^ b.keys() if k == "table"}


def _entry_diffs(kind: str, name: str, x: dict | None, y: dict | None) -> list[Difference]:
    """How one catalog entry (or one table's rows) differs from before (x) to after (y)."""
    if y is None:
        return [Difference(kind, name, "missing", before=_public(x))]
    if x is None:
        return [Difference(kind, name, "extra", after=_public(y))]
    if kind == "rows":
        if x["count"] != y["count"]:
            return [Difference(kind, name, "changed", "count", x["count"], y["count"])]
        if x["checksum"] != y["checksum"]:
            return [Difference(kind, name, "changed", "contents", x["count"], y["count"])]
        return []
    return [Difference(kind, name, "changed", attr, x.get(attr), y.get(attr), note=attr == "position")
            for attr in sorted(set(x) | set(y)) if x.get(attr) != y.get(attr)]


def _public(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if k != "table"}


def significant(diffs: list[Difference]) -> list[Difference]:
    return [d for d in diffs if not d.note]


_ORDER = {"schema": 0, "extension": 1, "type": 2, "table": 3, "column": 4, "constraint": 5, "index": 6,
          "sequence": 7, "view": 8, "materialized view": 8, "function": 9, "trigger": 10, "policy": 11,
          "rule": 12, "rows": 20}

# How each context words a difference. before → after is: original → after rollback ("reversible"),
# first run → second run ("second_run"), before a failed run → after it ("left_applied").
_WORDS = {
    "reversible": {"extra": "{kind} {name} still exists", "missing": "{kind} {name} missing",
                   "changed": "{kind} {name} changed {what}", "more": "table {name} has {n} extra row{s}",
                   "fewer": "table {name} has {n} fewer row{s}",
                   "content": "table {name} has different contents (same number of rows: {count})"},
    "second_run": {"extra": "the second run created {kind} {name}", "missing": "the second run removed {kind} {name}",
                   "changed": "the second run changed {kind} {name}: {what}",
                   "more": "the second run added {n} row{s} to table {name}",
                   "fewer": "the second run removed {n} row{s} from table {name}",
                   "content": "the second run changed rows of table {name} (same number of rows: {count})"},
    "left_applied": {"extra": "{kind} {name} was created", "missing": "{kind} {name} was dropped",
                     "changed": "{kind} {name} changed {what}", "more": "table {name} gained {n} row{s}",
                     "fewer": "table {name} lost {n} row{s}",
                     "content": "rows of table {name} were changed (same number of rows: {count})"},
}


def sentence(d: Difference, context: str) -> str:
    words = _WORDS[context]
    if d.kind == "rows" and d.change == "changed":
        if d.attribute == "count":
            n = int(d.after) - int(d.before)
            return words["more" if n > 0 else "fewer"].format(name=d.name, n=abs(n), s="" if abs(n) == 1 else "s")
        return words["content"].format(name=d.name, count=d.after)
    if d.kind == "rows":  # rows of a table that appeared or vanished: the table says it
        return words[d.change].format(kind="rows of table", name=d.name)
    text = words[d.change].format(kind=d.kind, name=d.name, what=_what(d))
    if d.change == "extra" and isinstance(d.after, dict) and d.after.get("valid") is False:
        text += " (INVALID: a failed CREATE INDEX CONCURRENTLY leaves one behind)"
    return text


def sentences(diffs: list[Difference], context: str) -> list[str]:
    out: list[str] = []
    for d in diffs:
        text = sentence(d, context)
        if text not in out:
            out.append(text)
    return out


def _short(v: Any) -> str:
    text = "none" if v is None or v == "" else str(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _what(d: Difference) -> str:
    attr = d.attribute
    if attr in ("definition", "source"):
        return "definition"
    if attr == "nullable":
        return "nullability (now " + ("nullable)" if d.after else "NOT NULL)")
    if attr == "valid":
        return "validity (now " + ("valid)" if d.after else "invalid: a failed CREATE INDEX CONCURRENTLY leaves one)")
    if attr == "values":
        before, after = (str(v or "").split(", ") for v in (d.before, d.after))
        added = [v for v in after if v not in before]
        removed = [v for v in before if v not in after]
        parts = [f"{', '.join(added)} added"] * bool(added) + [f"{', '.join(removed)} removed"] * bool(removed)
        return "values (" + ("; ".join(parts) or "order changed") + ")"
    if attr == "position":
        return f"position from {d.before} to {d.after}"
    return f"{attr} from {_short(d.before)} to {_short(d.after)}"


# --- PostgreSQL ---------------------------------------------------------------------------------

_USER_NS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' "
            "AND n.nspname !~ '^pg_temp_'")


def _not_ext(catalog: str, oid: str) -> str:
    return (f"NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass "
            f"AND d.objid = {oid} AND d.deptype = 'e')")


_PG_QUERIES = {
    "schema": f"SELECT n.nspname FROM pg_namespace n WHERE {_USER_NS}",
    "extension": "SELECT extname, extversion FROM pg_extension",
    "relation": f"""
        SELECT n.nspname, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity,
               pg_get_partkeydef(c.oid), pg_get_expr(c.relpartbound, c.oid),
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NS} AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_not_ext('pg_class', 'c.oid')}""",
    "column": f"""
        SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
               CASE WHEN a.attcollation <> t.typcollation THEN co.collname END, c.relkind
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'c') AND {_USER_NS}
          AND {_not_ext('pg_class', 'c.oid')}
        ORDER BY n.nspname, c.relname, a.attnum""",
    "constraint": f"""
        SELECT n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid, true), con.convalidated
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NS}""",
    "index": f"""
        SELECT n.nspname, ic.relname, t.relname, pg_get_indexdef(i.indexrelid), i.indisvalid
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        WHERE {_USER_NS} AND {_not_ext('pg_class', 'ic.oid')} AND NOT EXISTS (
            SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
            AND con.contype IN ('p', 'u', 'x'))""",
    "trigger": f"""
        SELECT n.nspname, c.relname, tg.tgname, pg_get_triggerdef(tg.oid, true), tg.tgenabled
        FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT tg.tgisinternal AND {_USER_NS}""",
    "function": f"""
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
               CASE WHEN p.prokind = 'a' THEN p.prosrc ELSE pg_get_functiondef(p.oid) END
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {_USER_NS} AND {_not_ext('pg_proc', 'p.oid')}""",
    "sequence": f"""
        SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
               s.seqmax, s.seqcache, s.seqcycle, tn.nspname, t.relname
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        LEFT JOIN pg_class t ON t.oid = d.refobjid LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
        WHERE {_USER_NS} AND {_not_ext('pg_class', 'c.oid')}""",
    "type": f"""
        SELECT n.nspname, t.typname, t.typtype,
          CASE t.typtype
            WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                           FROM pg_enum e WHERE e.enumtypid = t.oid)
            WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                          || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                          || coalesce(' DEFAULT ' || t.typdefault, '')
                          || coalesce((SELECT ' ' || string_agg(pg_get_constraintdef(k.oid, true), ' '
                                                                ORDER BY k.conname)
                                       FROM pg_constraint k WHERE k.contypid = t.oid), '')
            WHEN 'r' THEN (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
            ELSE '' END
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE {_USER_NS} AND {_not_ext('pg_type', 't.oid')}
          AND (t.typtype IN ('e', 'd', 'r')
               OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))""",
    "policy": f"""
        SELECT n.nspname, c.relname, pol.polname, pol.polcmd, pol.polpermissive,
               pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid),
               ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END
                     FROM unnest(pol.polroles) r ORDER BY 1)::text
        FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NS}""",
    "rule": f"""
        SELECT n.nspname, c.relname, r.rulename, pg_get_ruledef(r.oid, true)
        FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE r.rulename <> '_RETURN' AND {_USER_NS}""",
}
_RELKIND = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}


def _qn(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def pg_fingerprint(conn) -> Fingerprint:
    """Fingerprint of the database ``conn`` (a psycopg connection) is connected to."""
    e: Entries = {}
    with conn.transaction():
        conn.execute("SET LOCAL search_path = pg_catalog")  # every name comes out schema-qualified
        conn.execute("SET LOCAL transaction_read_only = on")
        with conn.pipeline():  # one round trip for all catalog queries
            cursors = {k: conn.execute(v) for k, v in _PG_QUERIES.items()}
        q = {k: c.fetchall() for k, c in cursors.items()}
        for (nsp,) in q["schema"]:
            e[("schema", nsp)] = {}
        for name, version in q["extension"]:
            e[("extension", name)] = {"version": version}
        tables = _pg_relations(q["relation"], e)
        columns = _pg_columns(q["column"], e)
        for kind, entry in _PG_ENTRIES.items():
            for row in q[kind]:
                key, attrs = entry(*row)
                e[(kind, key)] = attrs
        if tables:
            _pg_rows(conn, tables, columns, e)
    return _without_nones(e)


def _without_nones(e: Entries) -> Fingerprint:
    for entry in e.values():
        for k in [k for k, v in entry.items() if v is None]:
            del entry[k]
    return Fingerprint(dict(sorted(e.items())))


def _pg_relations(rows, e: Entries) -> list[tuple[str, str]]:
    """Tables, views, …; the ordinary tables (whose rows are compared) as (schema, name)."""
    tables = []
    for nsp, rel, kind, persistence, rls, force_rls, partkey, bound, viewdef in rows:
        label, name = _RELKIND[kind], _qn(nsp, rel)
        if label in ("view", "materialized view"):
            e[(label, name)] = {"definition": viewdef}
            continue
        e[(label, name)] = {"persistence": {"p": "permanent", "u": "unlogged"}.get(persistence, persistence),
                            "row level security": f"{rls}/{force_rls}", "partition key": partkey,
                            "partition bound": bound}
        if kind == "r":
            tables.append((nsp, rel))
    return tables


def _pg_columns(rows, e: Entries) -> dict[tuple[str, str], list[str]]:
    positions: dict[str, int] = {}
    columns: dict[tuple[str, str], list[str]] = {}
    for nsp, rel, col, typ, notnull, default, identity, generated, collation, kind in rows:
        table = _qn(nsp, rel)
        positions[table] = positions.get(table, 0) + 1
        columns.setdefault((nsp, rel), []).append(col)
        e[("column", f"{table}.{col}")] = {
            "table": table, "type": typ, "nullable": not notnull, "default": default,
            "identity": {"a": "always", "d": "by default"}.get(identity), "generated": generated or None,
            "collation": collation, "position": positions[table]}
    return columns


def _pg_sequence(nsp, seq, typ, start, inc, mn, mx, cache, cycle, owner_nsp, owner):
    return _qn(nsp, seq), {"definition": f"{typ} start {start} increment {inc} min {mn} max {mx} cache {cache}"
                                         f"{' cycle' if cycle else ''}",
                           "table": _qn(owner_nsp, owner) if owner else None}


def _pg_type(nsp, typ, kind, definition):
    return _qn(nsp, typ), {"kind": {"e": "enum", "d": "domain", "r": "range", "c": "composite"}[kind],
                           "values" if kind == "e" else "definition": definition}


# how each kind of catalog row becomes an entry: (name, attributes)
_PG_ENTRIES = {
    "constraint": lambda nsp, rel, con, definition, validated: (
        f"{_qn(nsp, rel)}.{con}", {"table": _qn(nsp, rel), "definition": definition, "valid": validated}),
    "index": lambda nsp, idx, rel, definition, valid: (
        _qn(nsp, idx), {"table": _qn(nsp, rel), "definition": definition, "valid": valid}),
    "trigger": lambda nsp, rel, trg, definition, enabled: (
        f"{trg} on {_qn(nsp, rel)}", {"table": _qn(nsp, rel), "definition": definition, "enabled": enabled}),
    "function": lambda nsp, fn, args, definition: (f"{_qn(nsp, fn)}({args})", {"definition": definition}),
    "sequence": _pg_sequence,
    "type": _pg_type,
    "policy": lambda nsp, rel, pol, cmd, permissive, qual, check, roles: (
        f"{pol} on {_qn(nsp, rel)}", {"table": _qn(nsp, rel), "definition": f"{cmd} {permissive} {qual} {check}",
                                      "roles": roles}),
    "rule": lambda nsp, rel, rule, definition: (
        f"{rule} on {_qn(nsp, rel)}", {"table": _qn(nsp, rel), "definition": definition}),
}


def _pg_rows(conn, tables: list[tuple[str, str]], columns: dict, e: Entries) -> None:
    """Each row as text with its columns in name order (a column that moved is not a data change), hashed
    to 64 bits (hashtextextended, PostgreSQL 11+) and summed: order-independent, duplicates counted, about
    3x cheaper than md5."""
    from psycopg import sql

    def row(nsp: str, rel: str):
        cols = sorted(columns.get((nsp, rel), []))
        return sql.SQL("ROW({})::text").format(sql.SQL(", ").join(sql.Identifier("r", c) for c in cols)) \
            if cols else sql.SQL("''")
    parts = [sql.SQL("SELECT {i}, count(*), coalesce(sum(hashtextextended({row}, 0)), 0)::text "
                     "FROM ONLY {t} r").format(i=sql.Literal(i), row=row(nsp, rel), t=sql.Identifier(nsp, rel))
             for i, (nsp, rel) in enumerate(tables)]
    for i, count, checksum in conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall():
        table = _qn(*tables[i])
        e[("rows", table)] = {"table": table, "count": count, "checksum": checksum}


# --- SQLite -------------------------------------------------------------------------------------

def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_fingerprint(conn: sqlite3.Connection, memo: dict | None = None) -> Fingerprint:
    """Fingerprint of the SQLite database ``conn`` is connected to.

    The catalog is read with one query per kind of object (pragma table-valued functions joined over the
    tables), not one per table. ``memo`` (a dict the caller keeps for one scratch database) remembers the
    normalised text of each CREATE statement: normalising is a pure function of the text, so a statement
    whose text is unchanged needs no new tokenizing."""
    memo = {} if memo is None else memo
    e: Entries = {}
    tables = _sqlite_objects(conn, memo, e)
    names = json.dumps([raw for _, raw in tables])
    lowered = {raw: name for name, raw in tables}
    columns = _sqlite_columns(conn, names, lowered, memo, e)
    _sqlite_foreign_keys(conn, names, lowered, e)
    _sqlite_keys(conn, names, lowered, e)
    for name, raw in tables:
        e[("rows", name)] = _sqlite_rows(conn, name, raw, columns)
    return _without_nones(e)


def _memo_norm(memo: dict, text: str) -> str:
    key = ("sql", text)
    if key not in memo:
        memo[key] = normalise_sql(text, "sqlite")
    return memo[key]


def _memo_checks(memo: dict, text: str) -> str | None:
    key = ("checks", text)
    if key not in memo:
        memo[key] = "; ".join(sqlite_checks(text)) or None
    return memo[key]


def _sqlite_objects(conn, memo: dict, e: Entries) -> list[tuple[str, str]]:
    """Tables, indexes, views and triggers; the tables whose rows are compared as (name, raw name)."""
    objects = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema "
                           "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").fetchall()
    options = {name: (wr, strict) for name, wr, strict in conn.execute(
        "SELECT name, wr, strict FROM pragma_table_list WHERE schema = 'main'").fetchall()}
    tables: list[tuple[str, str]] = []
    for kind, raw, raw_table, sql_text in objects:
        name, table = raw.lower(), raw_table.lower()  # SQLite names are case-insensitive
        if kind == "table":
            virtual = (sql_text or "").lstrip().upper().startswith("CREATE VIRTUAL")
            wr, strict = options.get(raw, (0, 0))
            e[("table", name)] = {"options": ", ".join(["without rowid"] * bool(wr) + ["strict"] * bool(strict))
                                  or None, "checks": _memo_checks(memo, sql_text or ""), "virtual": virtual or None}
            if not virtual:
                tables.append((name, raw))
        elif kind == "index" and sql_text:
            e[("index", name)] = {"table": table, "definition": _memo_norm(memo, sql_text)}
        elif kind in ("view", "trigger"):
            e[(kind, name)] = {"table": table if kind == "trigger" else None,
                               "definition": _memo_norm(memo, sql_text or "")}
    return tables


def _sqlite_columns(conn, names: str, lowered: dict, memo: dict, e: Entries) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for raw, cid, col, typ, notnull, default, pk, hidden in conn.execute(
            "SELECT j.value, x.cid, x.name, x.type, x.\"notnull\", x.dflt_value, x.pk, x.hidden "
            "FROM json_each(?) j JOIN pragma_table_xinfo(j.value) x ORDER BY j.key, x.cid", (names,)).fetchall():
        name = lowered[raw]
        columns.setdefault(name, []).append(col)
        e[("column", f"{name}.{col.lower()}")] = {
            "table": name, "type": (typ or "").lower(), "nullable": not notnull,
            "default": _memo_norm(memo, default) if default else None, "primary key": pk or None,
            "generated": {2: "virtual", 3: "stored"}.get(hidden), "position": cid + 1}
    return columns


def _sqlite_foreign_keys(conn, names: str, lowered: dict, e: Entries) -> None:
    fks: dict[tuple[str, int], list] = {}
    for raw, fid, seq, ref, frm, to, on_update, on_delete, match in conn.execute(
            "SELECT j.value, f.id, f.seq, f.\"table\", f.\"from\", f.\"to\", f.on_update, f.on_delete, f.match "
            "FROM json_each(?) j JOIN pragma_foreign_key_list(j.value) f ORDER BY j.key", (names,)).fetchall():
        fks.setdefault((lowered[raw], fid), []).append((seq, ref, frm, to, on_update, on_delete, match))
    for (name, _fid), rows in fks.items():
        rows.sort()
        ref = rows[0][1].lower()
        key = (f"{name}({', '.join(r[2].lower() for r in rows)}) → "
               f"{ref}({', '.join(str(r[3]).lower() for r in rows)})")
        e[("foreign key", key)] = {"table": name, "on update": rows[0][4], "on delete": rows[0][5],
                                   "match": rows[0][6]}


def _sqlite_keys(conn, names: str, lowered: dict, e: Entries) -> None:
    """Primary keys and UNIQUE constraints (explicit CREATE INDEX, origin 'c', is read from its SQL)."""
    index_cols: dict[tuple[str, str, str], list[str]] = {}
    for raw, idx, origin, col in conn.execute(
            "SELECT j.value, il.name, il.origin, ii.name FROM json_each(?) j JOIN pragma_index_list(j.value) il "
            "LEFT JOIN pragma_index_info(il.name) ii WHERE il.origin <> 'c' ORDER BY j.key, il.seq, ii.seqno",
            (names,)).fetchall():
        cols = index_cols.setdefault((lowered[raw], idx, origin), [])
        if col is not None:
            cols.append(str(col).lower())
    for (name, _idx, origin), cols in index_cols.items():
        label = "primary key" if origin == "pk" else "unique constraint"
        e[(label, f"{name}({', '.join(cols)})")] = {"table": name}


def _sqlite_rows(conn, name: str, raw: str, columns: dict[str, list[str]]) -> dict:
    """Columns in name order (a column that moved is not a data change), rows sorted by every column: the
    same rows give the same text whatever order they were written in."""
    cols = sorted(columns.get(name, []), key=str.lower)
    select = ", ".join(_q(c) for c in cols) or "1"
    order = ", ".join(str(i + 1) for i in range(len(cols))) or "1"
    rows = conn.execute(f"SELECT {select} FROM {_q(raw)} ORDER BY {order}").fetchall()
    return {"table": name, "count": len(rows),
            "checksum": hashlib.blake2b(repr(rows).encode(), digest_size=16).hexdigest()}
