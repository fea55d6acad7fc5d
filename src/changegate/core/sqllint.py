"""Static analysis of SQL migration scripts: split, refuse, lint. Pure: no I/O.

The splitter is a real lexer (strings, quoted identifiers, dollar quotes, nested comments, psql
meta-commands, COPY data, SQLite trigger bodies), so every later rule sees tokens, never raw text:
a keyword inside a string literal or a comment is not a keyword, and ``pg_catalog . /* x */
PG_READ_FILE (`` is still a call of pg_read_file. Bodies that are code (dollar-quoted bodies,
``AS '…'`` function bodies, ``DO '…'``, ``EXECUTE '…'`` / ``format('…')``) are scanned as code too.
sqlglot checks that each statement parses; the rules themselves read tokens, which works the same
for statements sqlglot only knows as an opaque ``Command`` (DO blocks, functions, triggers).
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass, field
from typing import NamedTuple

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError

from .decisions import Reason

ENGINES = {"postgresql": "postgres", "sqlite": "sqlite"}
ERROR, WARNING, INFO = "error", "warning", "info"

_ID = r"A-Za-z_\u0080-\U0010ffff"
_OPS = r"(?:[+*<>=~!@#%^&|?]|-(?!-)|/(?!\*))+"  # an operator: a run of operator characters, never a comment
# After VALUES: a run of tuples holding only literals is one "bulk" token. Nothing in it can be code, and
# it is syntactically sound by construction, so sample data and multi-row inserts cost one token per run.
_LIT = r"(?:-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|'(?:[^']|'')*'|(?i:null|true|false|default))"
_TUPLE = rf"\(\s*{_LIT}(?:\s*,\s*{_LIT})*\s*\)"
_BULK = re.compile(rf"\s*({_TUPLE}(?:\s*,\s*{_TUPLE})*)")
_COPY_END = re.compile(r"^\\\.[ \t\r]*$", re.M)  # the line ending inline COPY data
_FIRST_TUPLE = re.compile(_TUPLE)
_PG = re.compile(
    r"(?P<ws>[ \t\r\n\f\v\ufeff]+)|(?P<lc>--[^\n]*)|(?P<bc>/\*)"
    r"|(?P<string>[eE]'(?:[^'\\]|\\.|'')*'|[uU]&'(?:[^']|'')*'|[bBxXnN]?'(?:[^']|'')*')"
    r"|(?P<qident>[uU]&\"(?:[^\"]|\"\")*\"|\"(?:[^\"]|\"\")*\")"
    rf"|(?P<dollar>\$(?:[{_ID}][{_ID}0-9]*)?\$)|(?P<param>\$\d+)"
    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    rf"|(?P<word>[{_ID}][{_ID}0-9$]*)|(?P<semi>;)|(?P<meta>\\[^\n]*)|(?P<op>{_OPS}|.)",
    re.S,
)
_LITE = re.compile(
    r"(?P<ws>[ \t\r\n\f\v\ufeff]+)|(?P<lc>--[^\n]*)|(?P<bc>/\*)"
    r"|(?P<string>[xX]?'(?:[^']|'')*')"
    r"|(?P<qident>\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|\[[^\]]*\])"
    r"|(?P<param>[?:@$][A-Za-z0-9_]*)|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    rf"|(?P<word>[{_ID}][{_ID}0-9$]*)|(?P<semi>;)|(?P<meta>\\[^\n]*)|(?P<op>{_OPS}|.)",
    re.S,
)


class Token(NamedTuple):  # a tuple, not a dataclass: a big pg_dump file has hundreds of thousands
    kind: str  # word qident string dollar number param op semi meta
    text: str  # as written
    value: str  # word: lower-cased; qident: unquoted; string/dollar: the body as written
    start: int  # offset in the script
    inner: int = -1  # string/dollar: offset where the body starts (to scan it as code)

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and (not words or self.value in words)


@dataclass(frozen=True, slots=True)
class Statement:
    index: int  # 1-based, in script order
    text: str
    line: int
    column: int
    tokens: tuple[Token, ...]
    copy_data: str | None = None  # the rows of ``COPY … FROM stdin`` written inline, psql style

    @property
    def words(self) -> list[str]:
        """Leading words, lower-cased (stops at the first non-word token)."""
        out = []
        for t in self.tokens:
            if t.kind != "word":
                break
            out.append(t.value)
        return out

    @property
    def excerpt(self) -> str:
        flat = " ".join(self.text.split())
        return flat if len(flat) <= 120 else flat[:117] + "..."


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str  # error | warning | info
    code: str
    message: str  # one sentence
    script: str
    line: int
    column: int
    excerpt: str = ""

    @property
    def sentence(self) -> str:
        return f"{self.script} line {self.line}, column {self.column}: {self.message}"

    def reason(self) -> Reason:
        return Reason(self.code, self.sentence)

    def to_dict(self) -> dict:
        return {"severity": self.severity, "code": self.code, "message": self.message, "script": self.script,
                "line": self.line, "column": self.column, "excerpt": self.excerpt}


@dataclass
class Script:
    """One script, split and analysed."""

    name: str
    role: str  # schema | deploy | rollback | verify
    engine: str
    text: str
    statements: list[Statement] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)  # usage errors: unparsable, refused
    findings: list[Finding] = field(default_factory=list)  # lint
    execution: str = "transaction"  # transaction | own_transactions | statement_by_statement
    atomic: bool = True
    how: str = ""  # a sentence: how the script runs and whether it is atomic
    roles: set[str] = field(default_factory=set)  # roles named by GRANT/REVOKE/OWNER TO
    trees: dict[int, object] = field(default_factory=dict, repr=False)  # statement index -> sqlglot tree
    _starts: list[int] | None = field(default=None, repr=False)

    def position(self, offset: int) -> tuple[int, int]:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1


class LexError(ValueError):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def _unquote(text: str) -> str:
    if text[:2] in ('U&', 'u&'):
        body = text[3:-1].replace('""', '"')
        return re.sub(r"\\(\+[0-9A-Fa-f]{6}|[0-9A-Fa-f]{4}|\\)",
                      lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1).lstrip("+"), 16)), body)
    q = text[0]
    if q == "[":
        return text[1:-1]
    return text[1:-1].replace(q * 2, q)


def _lex(text: str, pos: int, end: int, engine: str) -> tuple[Token | None, int]:
    """The next token at or after pos (skipping whitespace and comments), and the offset after it."""
    pattern = _PG if engine == "postgresql" else _LITE
    while pos < end:
        m = pattern.match(text, pos, end)
        kind = m.lastgroup
        if kind == "ws" or kind == "lc":
            pos = m.end()
            continue
        if kind == "bc":
            pos = _skip_comment(text, pos, end, nested=engine == "postgresql")
            continue
        tok = m.group()
        if kind == "dollar":
            close = text.find(tok, m.end(), end)
            if close < 0:
                raise LexError(f"unterminated dollar-quoted string {tok}", pos)
            return Token("dollar", text[pos:close + len(tok)], text[m.end():close], pos, m.end()), close + len(tok)
        if kind == "op" and tok in ("'\"" if engine == "postgresql" else "'\"`["):
            what = "quoted identifier" if tok in '"`[' else "string literal"
            raise LexError(f"unterminated {what}", pos)
        if kind == "string":
            quote = tok.index("'")
            return Token("string", tok, tok[quote + 1:-1], pos, pos + quote + 1), m.end()
        if kind == "qident":
            return Token("qident", tok, _unquote(tok), pos), m.end()
        if kind == "word":
            return Token("word", tok, tok.lower(), pos), m.end()
        return Token(kind, tok, tok, pos), m.end()
    return None, pos


def tokenize(text: str, engine: str, start: int = 0, end: int | None = None) -> list[Token]:
    """Tokens of ``text[start:end]`` without whitespace and comments; raises LexError."""
    end = len(text) if end is None else end
    out: list[Token] = []
    pos = start
    while True:
        tok, pos = _lex(text, pos, end, engine)
        if tok is None:
            return out
        out.append(tok)


def _skip_comment(text: str, pos: int, end: int, nested: bool) -> int:
    depth, i = 0, pos
    while i < end:
        if text.startswith("/*", i) and (nested or depth == 0):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise LexError("unterminated /* comment", pos)


# --- splitting --------------------------------------------------------------------------------

def split(script: Script) -> None:
    """Fill script.statements (and script.problems for lexing errors and refused meta-commands)."""
    text, engine = script.text, script.engine
    current: list[Token] = []
    depth = 0  # BEGIN … END block depth (SQLite trigger bodies, PostgreSQL BEGIN ATOMIC)
    pos = 0
    while True:
        if current and current[-1].kind == "word" and current[-1].value == "values":
            m = _BULK.match(text, pos)
            if m:
                current.append(Token("bulk", m.group(1), "", m.start(1)))
                pos = m.end()
                continue
        try:
            t, pos = _lex(text, pos, len(text), engine)
        except LexError as exc:
            line, col = script.position(exc.offset)
            script.problems.append(Finding(ERROR, "unparsable", f"{exc} starting here", script.name, line, col))
            return
        if t is None:
            break
        if not current and t.text == "." and t.kind == "op" and _at_line_start(text, t.start):
            line_end = text.find("\n", t.start)
            pos = len(text) if line_end < 0 else line_end  # an sqlite3 shell dot-command: the whole line
            t = Token("meta", text[t.start:pos], "", t.start)
        if t.kind == "meta":
            _meta(script, t)
            continue
        if t.kind == "semi" and depth == 0:
            if current:
                pos = max(pos, _close(script, current))
            current = []
            continue
        current.append(t)
        if t.kind == "word":
            if depth == 0 and t.value in ("begin", "atomic") and _block_statement(current, engine):
                depth = 1
            elif depth > 0 and t.value == "case":
                depth += 1
            elif depth > 0 and t.value == "end":
                depth -= 1
    if current:
        _close(script, current)


def _at_line_start(text: str, offset: int) -> bool:
    line_start = text.rfind("\n", 0, offset) + 1
    return text[line_start:offset].strip() == ""


def _block_statement(current: list[Token], engine: str) -> bool:
    head = [x.value for x in current[:5] if x.kind == "word"]
    words = [w for w in head if w not in ("or", "replace", "temp", "temporary")]
    if engine == "sqlite":
        return words[:2] == ["create", "trigger"] and current[-1].value == "begin"
    return (words[:2] in (["create", "function"], ["create", "procedure"])
            and current[-1].value == "atomic" and len(current) > 1 and current[-2].is_word("begin"))


def _meta(script: Script, t: Token) -> None:
    command = t.text.split()[0] if t.text.split() else t.text
    if command in ("\\restrict", "\\unrestrict"):
        return  # pg_dump ≥ 17.6/16.10/15.14 writes these; they only guard psql itself
    line, col = script.position(t.start)
    what = {"\\!": "a shell command", "\\copy": "a client-side file copy", "\\i": "reading another file",
            "\\ir": "reading another file", "\\o": "writing a file", "\\gexec": "running query results as SQL",
            "\\c": "a connection to another database", "\\connect": "a connection to another database"}
    kind = "sqlite3 shell command" if command.startswith(".") else "psql meta-command"
    why = what.get(command, "a client-side command the check does not run")
    script.problems.append(Finding(ERROR, "refused_meta_command", f"{kind} {command} refused ({why})",
                                   script.name, line, col, t.text[:120]))


def _close(script: Script, tokens: list[Token]) -> int:
    """Record a statement; return where lexing resumes (after inline COPY data), or -1."""
    text = script.text
    first, last = tokens[0], tokens[-1]
    stmt_end = last.start + len(last.text)
    line, col = script.position(first.start)
    copy_data, skip = None, -1
    if script.engine == "postgresql" and _copy_from_stdin(tokens):
        nl = text.find("\n", stmt_end)
        data_start = len(text) if nl < 0 else nl + 1
        m = _COPY_END.search(text, data_start)
        if m is None:
            script.problems.append(Finding(ERROR, "unparsable", "COPY … FROM stdin data is not ended by a line \\.",
                                           script.name, line, col, " ".join(text[first.start:stmt_end].split())[:120]))
            return len(text)
        copy_data, skip = text[data_start:m.start()], m.end()
    script.statements.append(Statement(len(script.statements) + 1, text[first.start:stmt_end], line, col,
                                       tuple(tokens), copy_data))
    return skip


def _copy_from_stdin(tokens: list[Token]) -> bool:
    if not tokens[0].is_word("copy"):
        return False
    for a, b in _depth0_pairs(tokens):
        if a.is_word("from") and b.is_word("stdin"):
            return True
    return False


def _depth0(tokens) -> list[Token]:
    out, depth = [], 0
    for t in tokens:
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
        elif depth == 0:
            out.append(t)
    return out


def _depth0_pairs(tokens):
    d0 = _depth0(tokens)
    return zip(d0, d0[1:])


# --- refusals: anything that reaches outside the scratch database -------------------------------

_FILE_FUNCS = {
    "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir",
    "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_ls_logicalsnapdir", "pg_ls_logicalmapdir",
    "pg_ls_replslotdir", "pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync", "pg_logdir_ls",
    "pg_file_read", "pg_file_length", "lo_import", "lo_export",
}
_SQLITE_SHELL_FUNCS = {"readfile", "writefile", "edit"}  # the sqlite3 shell's file functions
_SERVER_FUNCS = {
    "pg_reload_conf", "pg_rotate_logfile", "pg_terminate_backend", "pg_cancel_backend", "pg_promote",
    "pg_switch_wal", "pg_create_restore_point", "pg_backup_start", "pg_backup_stop", "pg_start_backup",
    "pg_stop_backup", "pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
    "pg_drop_replication_slot", "pg_log_backend_memory_contexts", "load_extension", "fts3_tokenizer",
}
_FOREIGN_EXTENSIONS = {"dblink", "postgres_fdw", "file_fdw", "adminpack", "plpython3u", "plpythonu",
                       "plpython2u", "plperlu", "pltclu", "plsh", "pljavau", "log_fdw"}
_UNTRUSTED_LANGUAGES = {"c", "internal", "plpython3u", "plpythonu", "plpython2u", "plperlu", "pltclu",
                        "plsh", "javau", "plrustu"}
_GUARDED_SETTINGS = {"role", "session_authorization", "standard_conforming_strings", "client_encoding"}
_COMMAND_AFTER = {"begin", "atomic"}
_COMMAND_AFTER_IN_BODY = {"begin", "then", "else", "loop", "atomic"}  # PL/pgSQL statement starts


def find_refusals(script: Script) -> None:
    """Add a problem for every construct that could reach outside the scratch database."""
    for stmt in script.statements:
        _scan(script, stmt.tokens, routine=_is_routine(stmt.words), level=0)


def _is_routine(words: list[str]) -> bool:
    words = [w for w in words if w not in ("or", "replace")]
    return words[:1] in (["create"], ["alter"]) and words[1:2] in (["function"], ["procedure"], ["routine"])


def _refuse(script: Script, tok: Token, code: str, message: str) -> None:
    line, col = script.position(tok.start)
    excerpt_end = script.text.find("\n", tok.start)
    excerpt = script.text[tok.start: excerpt_end if excerpt_end > 0 else None].strip()[:120]
    script.problems.append(Finding(ERROR, code, message, script.name, line, col, excerpt))


def _scan(script: Script, toks: tuple[Token, ...] | list[Token], routine: bool, level: int) -> None:
    n = len(toks)

    def word(k: int) -> str:
        return toks[k].value if 0 <= k < n and toks[k].kind == "word" else ""

    def name(k: int) -> str:  # word or quoted identifier, lower-cased: quoting must not hide a name
        return toks[k].value.lower() if 0 <= k < n and toks[k].kind in ("word", "qident") else ""

    for i, t in enumerate(toks):
        # bodies that are code; inside a body every string may be SQL run by EXECUTE (or format() of it)
        if level < 6 and (t.kind == "dollar" or (t.kind == "string" and (level or _code_string(toks, i)))):
            try:
                inner = tokenize(script.text, script.engine, t.inner, t.inner + len(t.value))
            except LexError:
                inner = []  # a body that is not code (or uses a quoting we can't see through)
            _scan(script, inner, routine=False, level=level + 1)
            continue
        # function calls, qualified or quoted or not
        fn = name(i)
        if fn and i + 1 < n and toks[i + 1].text == "(":
            if fn in _FILE_FUNCS or (fn in _SQLITE_SHELL_FUNCS and script.engine == "sqlite"):
                _refuse(script, t, "refused_server_file", f"{fn}() reads or writes files on the database server")
            elif fn.startswith("dblink"):
                _refuse(script, t, "refused_foreign_data", f"{fn}() connects to another database")
            elif fn in _SERVER_FUNCS:
                _refuse(script, t, "refused_server_control", f"{fn}() acts on the server or other sessions")
            elif fn == "set_config":
                arg = toks[i + 2] if i + 2 < n else None
                setting = arg.value.lower() if arg is not None and arg.kind == "string" else None
                if setting is None or setting in _GUARDED_SETTINGS:
                    _refuse(script, t, "refused_setting", f"set_config({setting or 'a computed name'!r}) "
                            "may change the session's role or how the script is read")
        if t.is_word("language") and i + 1 < n and toks[i + 1].kind in ("word", "qident", "string") \
                and toks[i + 1].value.lower() in _UNTRUSTED_LANGUAGES:  # LANGUAGE c, "C", 'plpython3u'
            _refuse(script, t, "refused_untrusted_language",
                    f"code in language {toks[i + 1].value.lower()} runs outside the database's sandbox")
        if routine and level == 0 and t.is_word("set") and (word(i + 1) == "role" or word(i + 1) == "session"):
            _refuse(script, t, "refused_role", "a function that switches role (SET ROLE / SESSION AUTHORIZATION)")
        after = _COMMAND_AFTER_IN_BODY if level else _COMMAND_AFTER
        if t.kind != "word" or not (i == 0 or toks[i - 1].kind == "semi" or word(i - 1) in after):
            continue
        # commands, at the start of a statement (or of a PL/pgSQL statement inside a body)
        w1, w2 = word(i + 1), word(i + 2)
        v = t.value
        rest = _until_semi(toks, i)
        if v == "copy":
            d0 = _depth0(rest)
            for a, b in zip(d0, d0[1:]):
                if a.is_word("from", "to") and b.is_word("program"):
                    _refuse(script, t, "refused_copy_program", "COPY … PROGRAM runs a shell command on the server")
                elif a.is_word("from", "to") and b.kind in ("string", "dollar"):
                    _refuse(script, t, "refused_copy_file", f"COPY … {a.value.upper()} a server file "
                            "(only COPY … FROM STDIN / TO STDOUT is allowed)")
        elif v in ("attach", "detach") and level == 0 and w1 != "partition":
            _refuse(script, t, "refused_attach", f"{v.upper()} DATABASE reaches another database file")
        elif v == "load" and i + 1 < n and toks[i + 1].kind in ("string", "dollar", "word", "qident"):
            _refuse(script, t, "refused_load", "LOAD loads a shared library into the server")
        elif v == "vacuum" and any(x.is_word("into") for x in rest):
            _refuse(script, t, "refused_server_file", "VACUUM INTO writes a database file outside the scratch database")
        elif v == "pragma" and w1 in ("temp_store_directory", "data_store_directory"):
            _refuse(script, t, "refused_server_file", f"PRAGMA {w1} points SQLite at another directory")
        elif v == "import" and w1 == "foreign":
            _refuse(script, t, "refused_foreign_data", "IMPORT FOREIGN SCHEMA reaches another server")
        elif v == "reassign" or (v == "drop" and w1 == "owned"):
            _refuse(script, t, "refused_role", f"{v.upper()} OWNED changes objects of a role across the cluster")
        elif v in ("grant", "revoke") and not any(x.is_word("on") for x in _depth0(rest)):
            _refuse(script, t, "refused_role", f"{v.upper()} of a role membership changes roles across the cluster")
        elif v in ("set", "reset"):
            k = 1 if w1 in ("session", "local") and w2 != "authorization" else 0
            param = name(i + 1 + k)
            value = _setting_value(list(rest[k + 1:]))
            if param == "role" or (w1 == "session" and w2 == "authorization"):
                _refuse(script, t, "refused_role", f"{v.upper()} ROLE / SESSION AUTHORIZATION switches identity")
            elif v == "set" and param == "standard_conforming_strings" and value not in ("on", "true", "1", "default"):
                _refuse(script, t, "refused_setting", "SET standard_conforming_strings other than on changes how "
                        "string literals are read, so the check could not see the script as the server does")
            elif v == "set" and param in ("client_encoding", "names") and \
                    value.replace("-", "").replace("_", "") not in ("utf8", "unicode", "default"):
                _refuse(script, t, "refused_setting",
                        "SET client_encoding other than UTF8 changes how the script is read")
        elif v in ("create", "alter", "drop"):
            _scan_ddl(script, t, v, [word(i + k) for k in range(1, 7)], name, i)


def _setting_value(rest: list[Token]) -> str:
    """The value of ``SET name [TO|=] value`` given the tokens after the name."""
    if rest and (rest[0].is_word("to") or rest[0].text == "="):
        rest = rest[1:]
    return rest[0].value.lower() if rest else ""


def _scan_ddl(script: Script, t: Token, verb: str, ws: list[str], name, i: int) -> None:
    words = [w for w in ws if w not in ("or", "replace", "trusted", "procedural", "if", "not", "exists")]
    obj = words[0] if words else ""
    if obj == "language" and verb == "create":
        _refuse(script, t, "refused_untrusted_language", "CREATE LANGUAGE installs a procedural language")
    elif obj == "system":
        _refuse(script, t, "refused_alter_system", "ALTER SYSTEM changes the server's configuration")
    elif obj in ("user", "role", "group") and words[1:2] != ["mapping"]:
        _refuse(script, t, "refused_role", f"{verb.upper()} {obj.upper()} changes roles across the cluster")
    elif obj in ("database", "tablespace"):
        _refuse(script, t, "refused_database", f"{verb.upper()} {obj.upper()} reaches outside the scratch database")
    elif obj in ("server", "subscription") or obj == "foreign" and words[1:2] in (["data"], ["table"]) \
            or (obj == "user" and words[1:2] == ["mapping"]):
        what = obj if obj in ("server", "subscription") else " ".join(words[:2])
        _refuse(script, t, "refused_foreign_data", f"{verb.upper()} {what.upper()} reaches another server")
    elif obj == "extension" and verb == "create":
        k = i + 2
        while name(k) in ("if", "not", "exists"):
            k += 1
        ext = name(k)
        if ext in _FOREIGN_EXTENSIONS or ext.endswith("_fdw"):
            _refuse(script, t, "refused_foreign_data", f"CREATE EXTENSION {ext} reaches outside the database")


def _until_semi(toks, i: int) -> list[Token]:
    out = []
    for t in toks[i + 1:]:
        if t.kind == "semi":
            break
        out.append(t)
    return out


def _code_string(toks, i: int) -> bool:
    """Is the string at i a body of code: AS '…', DO '…', EXECUTE '…', format('…'), '…' || '…'?"""
    prev = toks[i - 1] if i > 0 else None
    if prev is None:
        return False
    if prev.is_word("as", "do", "execute") or prev.text == "||":
        return True
    if prev.text == "(" and i > 1 and toks[i - 2].value.lower() == "format":
        return True
    return i > 1 and toks[i - 2].is_word("language")  # DO LANGUAGE plpgsql '…'


# --- execution plan: can the script run in one transaction? ---------------------------------------

_TXN_START = ("begin", "start")
_TXN_END = ("commit", "end", "rollback", "abort")


def transaction_control(stmt: Statement, engine: str) -> str | None:
    """'begin', 'end' for statements that start or end a transaction; None otherwise."""
    words = stmt.words
    if not words:
        return None
    if words[0] in _TXN_START and (words[0] == "begin" or words[1:2] == ["transaction"]):
        return "begin"
    if words[0] in _TXN_END and not (words[0] == "rollback" and "to" in words[1:3]):
        return "end"
    if words[0] == "prepare" and words[1:2] == ["transaction"]:
        return "end"
    return None


def needs_autocommit(stmt: Statement, engine: str) -> str | None:
    """Why this statement cannot run inside a transaction block, or None."""
    words = stmt.words
    if engine == "sqlite":
        if words[:1] == ["vacuum"]:
            return "VACUUM"
        if words[:1] == ["pragma"] and len(words) > 1 and words[1] in ("foreign_keys", "journal_mode", "page_size",
                                                                          "auto_vacuum", "encoding"):
            return f"PRAGMA {words[1]}"
        return None
    d0 = [t.value for t in _depth0(stmt.tokens) if t.kind == "word"]
    head = d0[:4]
    if head[:1] in (["create"], ["drop"], ["reindex"]) and "concurrently" in head:
        return f"{head[0].upper()} … CONCURRENTLY"
    if head[:2] == ["alter", "table"] and "detach" in d0 and "concurrently" in d0:
        return "DETACH PARTITION … CONCURRENTLY"
    if head[:1] == ["vacuum"]:
        return "VACUUM"
    if head[:1] == ["reindex"] and len(head) > 1 and head[1] in ("database", "system"):
        return f"REINDEX {head[1].upper()}"
    if head == ["cluster"]:
        return "CLUSTER without a table"
    return None


def plan_execution(script: Script) -> None:
    stmts = script.statements
    control = [(s, transaction_control(s, script.engine)) for s in stmts]
    own = [(s, c) for s, c in control if c]
    if own:
        inner = [c for _, c in own]
        wrapped = (inner == ["begin", "end"] and control[0][1] == "begin" and control[-1][1] == "end"
                   and control[-1][0].words[0] in ("commit", "end"))
        script.execution = "own_transactions"
        script.atomic = wrapped
        where = ", ".join(f"{s.words[0].upper()} at line {s.line}" for s, _ in own[:4])
        script.how = (f"{script.name} runs its own transactions ({where}): it is atomic because one BEGIN … COMMIT "
                      "encloses all of it" if wrapped else
                      f"{script.name} runs its own transactions ({where}), statement by statement: "
                      "it is NOT atomic, a failure half-way leaves it half-applied")
        if not wrapped and script.role in ("deploy", "rollback"):
            s = own[0][0]
            script.findings.append(Finding(WARNING, "not_atomic", script.how, script.name, s.line, s.column, s.excerpt))
        return
    for s in stmts:
        why = needs_autocommit(s, script.engine)
        if why:
            script.execution, script.atomic = "statement_by_statement", False
            script.how = (f"{script.name} cannot run in one transaction ({why} at line {s.line}): it runs statement "
                          "by statement and is NOT atomic, a failure half-way leaves it half-applied")
            if script.role in ("deploy", "rollback"):
                script.findings.append(Finding(WARNING, "not_atomic", script.how, script.name, s.line, s.column,
                                               s.excerpt))
            return
    script.execution, script.atomic = "transaction", True
    script.how = f"{script.name} runs in one transaction: a failure leaves nothing of it applied"


# --- parse check and lint ---------------------------------------------------------------------

_ROUTINES = {"do", "function", "procedure", "trigger", "rule", "aggregate", "operator", "cast"}
_logger = logging.getLogger("sqlglot")


def parse_check(script: Script) -> None:
    """Each statement must parse (sqlglot); PL/pgSQL and routine bodies are opaque."""
    dialect = ENGINES[script.engine]
    level = _logger.level
    _logger.setLevel(logging.CRITICAL)  # sqlglot warns for every statement it keeps as a Command
    try:
        for s in script.statements:
            words = [w for w in s.words[:4] if w not in ("or", "replace", "temp", "temporary", "constraint")]
            opaque = words[:1] == ["do"] or (words[:1] == ["create"] and words[1:2] and words[1] in _ROUTINES)
            if s.copy_data is not None or opaque:
                continue
            text, cuts = _for_parser(s)
            try:
                trees = sqlglot.parse(text, read=dialect, error_level=ErrorLevel.RAISE)
                script.trees[s.index] = trees[0] if len(trees) == 1 else None
            except (ParseError, TokenError) as exc:
                errors = getattr(exc, "errors", None) or [{}]
                e = errors[0]
                el, ec, hl = e.get("line") or 1, e.get("col") or 1, e.get("highlight") or ""
                offset = _original_offset(text, el, ec - len(hl) + 1, cuts)
                line, col = script.position(s.tokens[0].start + offset)
                desc = (e.get("description") or str(exc)).split("\n")[0]
                desc = re.sub(r"<Token token_type: [\w.]+, text: (.*?), line: .*?>", r"\1", desc)
                near = f" near {hl!r}" if hl else ""
                script.problems.append(Finding(ERROR, "unparsable", f"statement {s.index} does not parse{near}: {desc}",
                                               script.name, line, col, s.excerpt))
            except Exception as exc:  # noqa: BLE001 - a parser bug must not block a script the database accepts
                script.findings.append(Finding(INFO, "not_parsed", f"the SQL parser failed on statement {s.index} "
                                               f"({type(exc).__name__}); only the database checks it",
                                               script.name, s.line, s.column, s.excerpt))
    finally:
        _logger.setLevel(level)


def _for_parser(s: Statement) -> tuple[str, list[tuple[int, int]]]:
    """The statement with the literal tuples after the first of each bulk run cut out (sqlglot would spend
    most of its time on them, and they are sound by construction), and the cuts as (offset, length)."""
    bulks = [t for t in s.tokens if t.kind == "bulk"]
    if not bulks:
        return s.text, []
    base, parts, cuts, at = s.tokens[0].start, [], [], 0
    for t in bulks:
        first = _FIRST_TUPLE.match(t.text).end()
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
        main = next((t for t in _depth0(toks) if t.is_word("insert", "update", "delete", "merge")), None)
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
        cascade = any(t.is_word("cascade") for t in _depth0(toks))
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
        d0 = [t.value for t in _depth0(toks) if t.kind == "word"]
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
        d0 = _depth0(toks)
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
    if first == "select" and any(t.is_word("into") for t in _depth0(toks)) and pg:
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
        d0 = _depth0(s.tokens)
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
    d0 = _depth0(stmt.tokens)
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
