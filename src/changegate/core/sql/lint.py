"""Static analysis of SQL migration scripts: parse check and lint, and ``analyse`` which runs every
step (split, refuse, plan, parse, lint). Pure: no I/O.

sqlglot checks that each statement parses; the rules themselves read tokens (sqlscript.py), which
works the same for statements sqlglot only knows as an opaque ``Command`` (DO blocks, functions,
triggers).
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError

from .refusals import find_refusals, plan_execution
from .script import (
    ENGINES,
    ERROR,
    FIRST_TUPLE,
    INFO,
    WARNING,
    Finding,
    LexError,
    Script,
    Statement,
    Token,
    depth0,
    split,
    tokenize,
)

# --- parse check and lint ---------------------------------------------------------------------

_ROUTINES = {"do", "function", "procedure", "trigger", "rule", "aggregate", "operator", "cast"}


def parse_check(script: Script) -> None:
    """Each statement must parse (sqlglot); PL/pgSQL and routine bodies are opaque."""
    parse = _sqlglot(script.engine)
    for s in script.statements:
        if s.copy_data is not None or _opaque(s):
            continue
        text, cuts = _for_parser(s)
        try:
            trees = parse(text)
            script.trees[s.index] = trees[0] if len(trees) == 1 else None
        except (ParseError, TokenError) as exc:
            script.problems.append(_unparsable(script, s, exc, text, cuts))
        except Exception as exc:  # noqa: BLE001 - a parser bug must not block a script the database accepts
            script.findings.append(Finding(INFO, "not_parsed", f"the SQL parser failed on statement {s.index} "
                                           f"({type(exc).__name__}); only the database checks it",
                                           script.name, s.line, s.column, s.excerpt))


def _opaque(s: Statement) -> bool:
    """DO blocks and routine definitions: bodies sqlglot does not parse."""
    words = [w for w in s.words[:4] if w not in ("or", "replace", "temp", "temporary", "constraint")]
    return words[:1] == ["do"] or (words[:1] == ["create"] and bool(words[1:2]) and words[1] in _ROUTINES)


def _unparsable(script: Script, s: Statement, exc: Exception, text: str, cuts: list[tuple[int, int]]) -> Finding:
    e = (getattr(exc, "errors", None) or [{}])[0]
    el, ec, hl = e.get("line") or 1, e.get("col") or 1, e.get("highlight") or ""
    offset = _original_offset(text, el, ec - len(hl) + 1, cuts)
    line, col = script.position(s.tokens[0].start + offset)
    desc = (e.get("description") or str(exc)).split("\n")[0]
    desc = re.sub(r"<Token token_type: [\w.]+, text: (.*?), line: .*?>", r"\1", desc)
    near = f" near {hl!r}" if hl else ""
    return Finding(ERROR, "unparsable", f"statement {s.index} does not parse{near}: {desc}", script.name, line, col,
                   s.excerpt)


def _sqlglot(engine: str):
    """``sqlglot.parse`` for one script: one tokenizer and one parser for all its statements (both reset
    themselves on every call); building them anew for each statement costs as much as parsing a short one."""
    dialect = Dialect.get_or_raise(ENGINES[engine])
    tokenizer, parser = dialect.tokenizer(), dialect.parser(error_level=ErrorLevel.RAISE)
    return lambda text: parser.parse(tokenizer.tokenize(text), text)


def _for_parser(s: Statement) -> tuple[str, list[tuple[int, int]]]:
    """The statement with the literal tuples after the first of each bulk run cut out (sqlglot would spend
    most of its time on them, and they are sound by construction), and the cuts as (offset, length)."""
    bulks = [t for t in s.tokens if t.kind == "bulk"]
    if not bulks:
        return s.text, []
    base, parts, cuts, at = s.tokens[0].start, [], [], 0
    for t in bulks:
        first = FIRST_TUPLE.match(t.text).end()
        a = t.start - base + first
        parts.append(s.text[at:a])
        cuts.append((a, len(t.text) - first))
        at = a + len(t.text) - first
    parts.append(s.text[at:])
    return "".join(parts), cuts


def _original_offset(reduced: str, line: int, col: int, cuts: list[tuple[int, int]]) -> int:
    starts = [0] + [m.end() for m in re.finditer("\n", reduced)]
    off = starts[min(line, len(starts)) - 1] + max(col, 1) - 1
    for at, length in cuts:  # cuts are in original offsets, in order
        if off >= at:
            off += length
    return off


_VOLATILE = {"random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
             "clock_timestamp", "timeofday", "nextval", "txid_current", "uuid_generate_v7"}
_SERIAL = {"serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"}
_NEEDS_GUARD = {"type", "domain", "policy", "cast", "operator", "publication"}


def lint(script: Script) -> None:
    """Findings for statements not safe to repeat, destructive ones, and (PostgreSQL) long locks."""
    created: set[str] = set()  # tables created earlier in this script: no lock worries for them
    dropped: set[tuple[str, str]] = set()  # (kind, name) dropped earlier: a CREATE after it repeats fine
    for s in script.statements:
        if script.role == "verify":
            if s.words[:1] and s.words[0] not in ("select", "with", "values", "set", "show", "do", "begin",
                                                    "rollback", "end", "commit", "start", "explain", "reset"):
                _add(script, s, INFO, "verify_writes", f"the verify script runs {s.words[0].upper()}: a verify script "
                     "should only read (the check rolls back whatever it does)")
            continue
        _lint_statement(script, s, created, dropped)


def _add(script: Script, s: Statement, severity: str, code: str, message: str, tok: Token | None = None) -> None:
    line, col = (s.line, s.column) if tok is None else script.position(tok.start)
    script.findings.append(Finding(severity, code, message, script.name, line, col, s.excerpt))


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _qualified(toks, k: int) -> tuple[str, int]:
    parts = []
    while k < len(toks) and toks[k].kind in ("word", "qident"):
        parts.append(toks[k].value)
        if k + 2 < len(toks) and toks[k + 1].text == "." and toks[k + 2].kind in ("word", "qident"):
            k += 2
            continue
        k += 1
        break
    return ".".join(parts), k


def _lint_statement(script: Script, s: Statement, created: set[str], dropped: set) -> None:
    pg = script.engine == "postgresql"
    toks = s.tokens
    words = s.words
    vals = [t.value if t.kind == "word" else None for t in toks]
    first = words[0] if words else ""
    if first == "with":  # WITH … INSERT/UPDATE/DELETE: lint the main statement
        main = next((t for t in depth0(toks) if t.is_word("insert", "update", "delete", "merge")), None)
        first = main.value if main else "select"
    if first == "do":
        body = " ".join(t.value for t in toks if t.kind == "dollar" or t.kind == "string").lower()
        extra = " and builds SQL at run time (EXECUTE)" if "execute" in body else ""
        _add(script, s, INFO, "opaque_block", f"DO block is not linted statically{extra}; the run-twice and "
             "rollback tests cover what it does")
        return
    if first == "create":
        k = 1
        mods = []
        while k < len(toks) and vals[k] in ("or", "replace", "global", "local", "temp", "temporary", "unlogged",
                                            "unique", "materialized", "recursive", "trusted", "procedural",
                                            "constraint", "event", "virtual"):
            mods.append(vals[k])
            k += 1
        kind = vals[k] if k < len(toks) else ""
        if "temp" in mods or "temporary" in mods or not kind:
            return
        k += 1
        concurrently = k < len(toks) and vals[k] == "concurrently"
        k += concurrently
        if_not_exists = vals[k:k + 3] == ["if", "not", "exists"]
        k += 3 * if_not_exists
        name, k = _qualified(toks, k) if not (kind == "index" and k < len(toks) and vals[k] == "on") else ("", k)
        label = ("materialized view" if "materialized" in mods else kind)
        replace = "replace" in mods
        if kind == "index" and not name:
            _add(script, s, ERROR, "not_repeatable", "CREATE INDEX without a name creates another index on every run")
        elif kind in ("table", "index", "sequence", "schema", "extension", "statistics", "collation") or \
                label == "materialized view" or (kind == "view" and not pg) or (kind == "trigger" and not pg):
            if not if_not_exists and (kind, name) not in dropped:
                _add(script, s, ERROR, "not_repeatable", f"CREATE {label.upper()} {name} without IF NOT EXISTS "
                     "fails when it already exists")
        elif kind in ("view", "function", "procedure", "trigger", "aggregate", "language", "rule") and pg:
            if not replace and (kind, name) not in dropped:
                _add(script, s, ERROR, "not_repeatable", f"CREATE {kind.upper()} {name} without OR REPLACE "
                     "fails when it already exists")
        elif kind in _NEEDS_GUARD and not if_not_exists and (kind, name) not in dropped:
            _add(script, s, ERROR, "not_repeatable", f"CREATE {kind.upper()} {name} fails when it already exists: "
                 f"drop it first with DROP {kind.upper()} IF EXISTS, or create it in a DO block that checks "
                 "the catalog")
        if kind == "table":
            created.add(_bare(name))
        if kind == "index" and pg and not concurrently:
            on = next((j for j in range(k, len(toks)) if vals[j] == "on"), None)
            table = _qualified(toks, on + 1 + (vals[on + 1:on + 2] == ["only"]))[0] if on is not None else ""
            if _bare(table) not in created:
                _add(script, s, WARNING, "long_lock", f"CREATE INDEX without CONCURRENTLY blocks writes to {table} "
                     "while the index builds")
        return
    if first == "drop":
        k = 1 + (len(toks) > 2 and vals[1] == "materialized")
        kind = vals[k] if k < len(toks) else ""
        kind_label = "materialized view" if k == 2 else kind
        k += 1
        if k < len(toks) and vals[k] == "concurrently":
            k += 1
        if_exists = vals[k:k + 2] == ["if", "exists"]
        name, _ = _qualified(toks, k + 2 * if_exists)
        dropped.add((kind, name))
        if kind == "owned":
            return
        if not if_exists:
            _add(script, s, ERROR, "not_repeatable", f"DROP {kind_label.upper()} {name} without IF EXISTS fails when "
                 "it is already gone")
        cascade = any(t.is_word("cascade") for t in depth0(toks))
        if kind == "table" or (kind == "schema" and cascade):
            _add(script, s, WARNING, "destructive", f"DROP {kind.upper()} {name} deletes its data")
        elif cascade:
            _add(script, s, WARNING, "destructive", f"DROP {kind_label.upper()} {name} CASCADE also drops whatever "
                 "depends on it")
        return
    if first == "alter":
        _lint_alter(script, s, vals, created, dropped, pg)
        return
    if first in ("insert", "replace"):
        d0 = [t.value for t in depth0(toks) if t.kind == "word"]
        allw = [v for v in vals if v]
        guarded = (first == "replace" or "conflict" in d0 or d0[1:3] in (["or", "ignore"], ["or", "replace"])
                   or any(allw[j:j + 2] in (["not", "exists"], ["not", "in"]) for j in range(len(allw)))
                   or "except" in allw)
        if not guarded:
            _add(script, s, ERROR, "not_repeatable", "INSERT without ON CONFLICT"
                 + (" / OR IGNORE" if not pg else "") + " or WHERE NOT EXISTS adds the rows again on every run")
        return
    if first == "copy" and s.copy_data is not None:
        _add(script, s, ERROR, "not_repeatable", "COPY … FROM stdin loads the rows again on every run")
        return
    if first in ("update", "delete"):
        d0 = depth0(toks)
        at0 = {id(t) for t in d0}
        j = next((j for j, t in enumerate(toks) if t.is_word("update", "from") and id(t) in at0), len(toks))
        j += 1 + (j + 1 < len(toks) and toks[j + 1].is_word("only"))
        target = _qualified(toks, j)[0]
        if not any(t.is_word("where") for t in d0):
            what = "changes every row of" if first == "update" else "removes every row of"
            _add(script, s, WARNING, "destructive", f"{first.upper()} without WHERE {what} {target}")
        if first == "update":
            _lint_update(script, s)
        return
    if first == "truncate":
        k = 1 + (len(toks) > 1 and vals[1] == "table")
        k += k < len(toks) and vals[k] == "only"
        _add(script, s, WARNING, "destructive", f"TRUNCATE {_qualified(toks, k)[0]} deletes all its rows")
        return
    if first == "select" and any(t.is_word("into") for t in depth0(toks)) and pg:
        _add(script, s, ERROR, "not_repeatable", "SELECT … INTO creates a table and fails when it already exists")


def _lint_alter(script, s, vals, created, dropped, pg) -> None:
    toks = s.tokens
    kind = vals[1] if len(toks) > 1 else ""
    k = 2
    if kind == "materialized":
        k += 1
    if_exists = vals[k:k + 2] == ["if", "exists"]
    k += 2 * if_exists
    if k < len(toks) and vals[k] == "only":
        k += 1
    name, k = _qualified(toks, k)
    if kind == "type":
        rest = [v for v in vals[k:] if v]
        if rest[:2] == ["add", "value"] and rest[2:5] != ["if", "not", "exists"]:
            _add(script, s, ERROR, "not_repeatable", f"ALTER TYPE {name} ADD VALUE without IF NOT EXISTS fails "
                 "when the value exists")
        elif rest[:1] == ["rename"]:
            _add(script, s, ERROR, "not_repeatable", f"ALTER TYPE {name} RENAME fails on the second run")
        return
    if kind != "table":
        if kind in ("index", "sequence", "view", "materialized") and "rename" in vals[k:k + 1] and not if_exists:
            _add(script, s, ERROR, "not_repeatable", f"ALTER {kind.upper()} {name} RENAME fails on the second run "
                 "(the old name is gone)")
        return
    new_table = _bare(name) in created
    # actions: split at depth-0 commas
    actions, current, depth = [], [], 0
    for t in toks[k:]:
        depth += t.text == "("
        depth -= t.text == ")"
        if t.text == "," and depth == 0:
            actions.append(current)
            current = []
        else:
            current.append(t)
    actions.append(current)
    for act in actions:
        av = [t.value if t.kind == "word" else t.text for t in act]
        if not av:
            continue
        head = act[0]
        if av[0] == "rename" or av[:2] == ["set", "schema"]:
            if not (if_exists and av[:2] == ["rename", "to"]):
                _add(script, s, ERROR, "not_repeatable", f"ALTER TABLE {name} {av[0].upper()} fails on the second run "
                     "(the old name is gone); guard it in a DO block that checks the catalog", head)
            continue
        if av[0] == "add":
            j = 1
            if av[j:j + 1] == ["constraint"] or av[j:j + 1] and av[j] in ("primary", "unique", "check", "foreign",
                                                                          "exclude"):
                cname = act[j + 1].value if av[j:j + 1] == ["constraint"] and len(act) > j + 1 else ""
                if not cname:
                    _add(script, s, ERROR, "not_repeatable", f"ALTER TABLE {name} ADD of an unnamed constraint fails "
                         "or adds a duplicate on the second run", head)
                elif ("constraint", cname) not in dropped:
                    _add(script, s, ERROR, "not_repeatable", f"ALTER TABLE {name} ADD CONSTRAINT {cname} fails when it "
                         f"exists: drop it first with DROP CONSTRAINT IF EXISTS {cname}", head)
                if pg and not new_table:
                    if any(v in ("foreign", "check") for v in av) and "valid" not in av:
                        _add(script, s, WARNING, "long_lock", f"ADD CONSTRAINT on {name} checks every row while "
                             "holding a lock: add it NOT VALID, then VALIDATE CONSTRAINT", head)
                    elif any(v in ("primary", "unique", "exclude") for v in av) and "using" not in av[:6]:
                        _add(script, s, WARNING, "long_lock", f"ADD CONSTRAINT on {name} builds an index while "
                             "blocking writes: build it with CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … "
                             "USING INDEX", head)
                continue
            j += av[j:j + 1] == ["column"]
            has_ine = av[j:j + 3] == ["if", "not", "exists"]
            j += 3 * has_ine
            col = f"{name}.{act[j].value}" if j < len(act) else name
            if not has_ine:
                hint = (" (SQLite has no ADD COLUMN IF NOT EXISTS: it cannot be repeated)" if not pg else "")
                _add(script, s, ERROR, "not_repeatable", f"ADD COLUMN {col} without IF NOT EXISTS fails when the "
                     f"column exists{hint}", head)
            words = [v.lower() for v in av[j:]]
            default_at = words.index("default") if "default" in words else -1
            if "not" in words and words[words.index("not") + 1: words.index("not") + 2] == ["null"] \
                    and default_at < 0 and "generated" not in words and not new_table \
                    and not (set(words) & _SERIAL):
                _add(script, s, WARNING, "not_null_without_default", f"ADD COLUMN {col} NOT NULL without a DEFAULT "
                     "fails on a table that has rows", head)
            if pg and not new_table:
                volatile = [f for f in _VOLATILE if f in words[default_at:]] if default_at >= 0 else []
                if set(words) & _SERIAL:
                    volatile.append("nextval (serial)")
                if volatile or ("generated" in words and "stored" in words):
                    why = (f"a volatile default ({', '.join(sorted(volatile))})" if volatile
                           else "a stored generated value")
                    _add(script, s, WARNING, "long_lock", f"ADD COLUMN {col} with {why} rewrites {name} under an "
                         "ACCESS EXCLUSIVE lock: add it without the default, then fill it in batches", head)
            continue
        if av[0] == "drop":
            j = 1
            what = av[j] if av[j:j + 1] and av[j] in ("column", "constraint") else "column"
            j += av[j:j + 1] == [what]
            has_ie = av[j:j + 2] == ["if", "exists"]
            target = act[j + 2 * has_ie].value if j + 2 * has_ie < len(act) else ""
            dropped.add((what, target))
            if not has_ie:
                _add(script, s, ERROR, "not_repeatable", f"DROP {what.upper()} {name}.{target} without IF EXISTS "
                     "fails when it is already gone", head)
            if what == "column":
                _add(script, s, WARNING, "destructive", f"DROP COLUMN {name}.{target} deletes its data", head)
            continue
        if av[0] == "alter" and pg and not new_table:
            j = 1 + (av[1:2] == ["column"])
            col = act[j].value if j < len(act) else ""
            rest = av[j + 1:]
            if rest[:1] == ["type"] or rest[:3] == ["set", "data", "type"]:
                _add(script, s, WARNING, "long_lock", f"ALTER COLUMN {name}.{col} TYPE may rewrite {name} under an "
                     "ACCESS EXCLUSIVE lock", head)
            elif rest[:3] == ["set", "not", "null"]:
                _add(script, s, WARNING, "long_lock", f"SET NOT NULL on {name}.{col} scans every row under an ACCESS "
                     "EXCLUSIVE lock (a validated CHECK (… IS NOT NULL) constraint avoids the scan)", head)


def _lint_update(script: Script, s: Statement) -> None:
    tree = script.trees.get(s.index)
    if not isinstance(tree, exp.Update):
        return
    for eq in tree.expressions:
        if not isinstance(eq, exp.EQ) or not isinstance(eq.this, exp.Column):
            continue
        target = eq.this.name
        rhs = eq.expression
        if isinstance(rhs, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.DPipe, exp.Concat)) and \
                any(c.name == target for c in rhs.find_all(exp.Column)):
            _add(script, s, WARNING, "not_repeatable", f"UPDATE sets {target} from its own value: a second run "
                 "applies it again unless the WHERE clause excludes rows already updated")


# --- referenced roles (GRANT … TO app) ----------------------------------------------------------

_NOT_ROLES = {"public", "current_user", "session_user", "current_role", "group", "role", "user"}


def referenced_roles(script: Script) -> set[str]:
    roles: set[str] = set()
    stop = {"with", "granted", "cascade", "restrict", "using", "check"}
    for s in script.statements:
        d0 = depth0(s.tokens)
        words = s.words
        start = None
        if words[:1] == ["grant"] or words[:2] == ["create", "policy"]:
            start = next((j for j, t in enumerate(d0) if t.is_word("to")), None)
        elif words[:1] == ["revoke"]:
            on = next((j for j, t in enumerate(d0) if t.is_word("on")), 0)
            start = next((j for j, t in enumerate(d0) if t.is_word("from") and j > on), None)
        for j, t in enumerate(d0):
            if t.is_word("owner") and j + 2 < len(d0) and d0[j + 1].is_word("to"):
                roles.add(d0[j + 2].value)
            if t.is_word("authorization") and j + 1 < len(d0) and words[:2] == ["create", "schema"]:
                roles.add(d0[j + 1].value)
        for t in d0[start + 1:] if start is not None else ():
            if t.text == ",":
                continue
            if t.kind not in ("word", "qident") or (t.kind == "word" and t.value in stop):
                break
            roles.add(t.value)
    return {r for r in roles if r not in _NOT_ROLES}


def schema_action(stmt: Statement) -> str:
    """How a PostgreSQL schema file statement is loaded: run, admin (needs a superuser) or skip."""
    words = [w for w in stmt.words if w not in ("or", "replace")]
    d0 = depth0(stmt.tokens)
    if words[:1] in (["grant"], ["revoke"]) or words[:3] == ["alter", "default", "privileges"]:
        return "skip"  # privileges are not compared, and the roles they name need not exist here
    if any(a.is_word("owner") and b.is_word("to") for a, b in zip(d0, d0[1:])):
        return "skip"  # ownership is not compared
    if words[:2] in (["create", "extension"], ["alter", "extension"], ["comment", "on"]) and \
            (words[:2] != ["comment", "on"] or words[2:3] == ["extension"]):
        return "admin"
    if words[:3] in (["create", "event", "trigger"], ["alter", "event", "trigger"]):
        return "admin"
    return "run"


def normalise_sql(text: str, engine: str) -> str:
    """Tokens joined by single spaces, words lower-cased; for SQLite, identifiers unquoted and lower-cased."""
    try:
        toks = tokenize(text, engine)
    except LexError:
        return " ".join(text.split())
    out = []
    for t in toks:
        if t.kind == "word" or (t.kind == "qident" and engine == "sqlite"):
            out.append(t.value.lower())
        else:
            out.append(t.text)
    joined = " ".join(out)
    return joined.replace("if not exists ", "")


def sqlite_checks(sql: str) -> list[str]:
    """The CHECK constraints of a SQLite CREATE TABLE, normalised and sorted."""
    if "check" not in sql.lower():
        return []  # no CHECK keyword can be among its tokens: no need to tokenize it
    try:
        toks = tokenize(sql, "sqlite")
    except LexError:
        return []
    out = []
    for j, t in enumerate(toks):
        if t.is_word("check") and j + 1 < len(toks) and toks[j + 1].text == "(":
            depth, k = 0, j + 1
            while k < len(toks):
                depth += toks[k].text == "("
                depth -= toks[k].text == ")"
                if depth == 0:
                    break
                k += 1
            out.append(normalise_sql(sql[toks[j + 1].start: toks[k].start + 1], "sqlite"))
    return sorted(out)


def analyse(text: str, engine: str, role: str, name: str) -> Script:
    """Split, refuse and (for deploy, rollback and verify) parse-check and lint a script."""
    script = Script(name=name, role=role, engine=engine, text=text)
    split(script)
    if script.problems and not script.statements:
        return script
    find_refusals(script)
    plan_execution(script)
    if role == "schema":
        return script
    parse_check(script)
    if role == "verify":
        script.execution, script.atomic = "verify", True
        script.how = (f"{script.name} runs in a transaction that is always rolled back (its own BEGIN, COMMIT "
                      "and ROLLBACK statements are skipped)")
    lint(script)
    script.roles = referenced_roles(script)
    script.problems.sort(key=lambda f: (f.line, f.column))
    script.findings.sort(key=lambda f: (f.line, f.column))
    return script
