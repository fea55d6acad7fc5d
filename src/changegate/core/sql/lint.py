"""Static analysis of SQL migration scripts: parse check and lint, and ``analyse`` which runs every
step (split, refuse, plan, parse, lint). Pure: no I/O.

sqlglot checks that each statement parses; the rules themselves read tokens (sqlscript.py), which
works the same for statements sqlglot only knows as an opaque ``Command`` (DO blocks, functions,
triggers).
"""

from __future__ import annotations

import re

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError

from .refusals import find_refusals, plan_execution
from .rules import RULES, Seen, Subject, apply, observe
from .script import (
    ENGINES,
    ERROR,
    FIRST_TUPLE,
    INFO,
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


_READS = {"select", "with", "values", "set", "show", "do", "begin", "rollback", "end", "commit", "start", "explain",
          "reset"}


def lint(script: Script) -> None:
    """Findings of the registered rules (rules/): statements not safe to repeat, destructive ones, and
    (PostgreSQL) long locks; for a verify script, whether it writes."""
    if script.role == "verify":
        _lint_verify(script)
        return
    seen = Seen()
    for s in script.statements:
        subject = Subject(script, s, seen)
        for r, (message, tok) in apply(RULES, subject):
            line, col = (s.line, s.column) if tok is None else script.position(tok.start)
            script.findings.append(Finding(r.severity, r.code, message, script.name, line, col, s.excerpt))
        observe(subject)


def _lint_verify(script: Script) -> None:
    for s in script.statements:
        if s.words[:1] and s.words[0] not in _READS:
            script.findings.append(Finding(
                INFO, "verify_writes", f"the verify script runs {s.words[0].upper()}: a verify script should only "
                "read (the check rolls back whatever it does)", script.name, s.line, s.column, s.excerpt))


# --- referenced roles (GRANT … TO app) ----------------------------------------------------------

_NOT_ROLES = {"public", "current_user", "session_user", "current_role", "group", "role", "user"}


_ROLE_LIST_STOP = {"with", "granted", "cascade", "restrict", "using", "check"}


def referenced_roles(script: Script) -> set[str]:
    """Roles named by GRANT … TO, REVOKE … FROM, CREATE POLICY … TO, OWNER TO and CREATE SCHEMA
    AUTHORIZATION (the check creates those the scratch server lacks)."""
    roles: set[str] = set()
    for s in script.statements:
        d0 = depth0(s.tokens)
        roles |= _owners(s, d0)
        start = _role_list_start(s.words, d0)
        if start is not None:
            roles |= _role_list(d0[start + 1:])
    return {r for r in roles if r not in _NOT_ROLES}


def _role_list_start(words: list[str], d0: list[Token]) -> int | None:
    """Where the role list of GRANT/CREATE POLICY (after TO) or REVOKE (after FROM) starts."""
    if words[:1] == ["grant"] or words[:2] == ["create", "policy"]:
        return next((j for j, t in enumerate(d0) if t.is_word("to")), None)
    if words[:1] == ["revoke"]:
        on = next((j for j, t in enumerate(d0) if t.is_word("on")), 0)
        return next((j for j, t in enumerate(d0) if t.is_word("from") and j > on), None)
    return None


def _role_list(toks: list[Token]) -> set[str]:
    roles = set()
    for t in toks:
        if t.text == ",":
            continue
        if t.kind not in ("word", "qident") or (t.kind == "word" and t.value in _ROLE_LIST_STOP):
            break
        roles.add(t.value)
    return roles


def _owners(s: Statement, d0: list[Token]) -> set[str]:
    schema = s.words[:2] == ["create", "schema"]
    found = set()
    for j, t in enumerate(d0[:-1]):
        if t.is_word("owner") and j + 2 < len(d0) and d0[j + 1].is_word("to"):
            found.add(d0[j + 2].value)
        if schema and t.is_word("authorization"):
            found.add(d0[j + 1].value)
    return found


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
