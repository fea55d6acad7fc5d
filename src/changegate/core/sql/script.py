"""SQL scripts as tokens and statements: the lexer and splitter under the SQL check. Pure: no I/O.

The splitter is a real lexer (strings, quoted identifiers, dollar quotes, nested comments, psql
meta-commands, COPY data, SQLite trigger bodies), so every later rule sees tokens, never raw text:
a keyword inside a string literal or a comment is not a keyword, and ``pg_catalog . /* x */
PG_READ_FILE (`` is still a call of pg_read_file.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from ..decisions import Reason
from .advice import refused

ENGINES = {"postgresql": "postgres", "sqlite": "sqlite"}
ERROR, WARNING, INFO = "error", "warning", "info"

_ID = r"A-Za-z_\u0080-\U0010ffff"
_OPS = r"(?:[+*<>=~!@#%^&|?]|-(?!-)|/(?!\*))+"  # an operator: a run of operator characters, never a comment
# After VALUES: a run of tuples holding only literals is one "bulk" token. Nothing in it can be code, and
# it is syntactically sound by construction, so sample data and multi-row inserts cost one token per run.
# (Strings are matched unrolled and the repetitions possessively: the same matches as the plain
# ``'(?:[^']|'')*'`` and ``(?:…)*``, in half the time on a large sample-data INSERT.)
_LIT = r"(?:-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|'[^']*+(?:''[^']*+)*+'|(?i:null|true|false|default))"
_TUPLE = rf"\(\s*{_LIT}(?:\s*,\s*{_LIT})*+\s*\)"
_BULK = re.compile(rf"\s*({_TUPLE}(?:\s*,\s*{_TUPLE})*+)")
_COPY_END = re.compile(r"^\\\.[ \t\r]*$", re.M)  # the line ending inline COPY data
FIRST_TUPLE = re.compile(_TUPLE)
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
    current: list[Token] = []
    depth = 0  # BEGIN … END block depth (SQLite trigger bodies, PostgreSQL BEGIN ATOMIC)
    pos = 0
    while True:
        try:
            t, pos = _next(script, current, pos)
        except LexError as exc:
            line, col = script.position(exc.offset)
            script.problems.append(Finding(ERROR, "unparsable", f"{exc} starting here", script.name, line, col))
            return
        if t is None:
            break
        if t.kind == "meta":
            _meta(script, t)
        elif t.kind == "semi" and depth == 0:
            if current:
                pos = max(pos, _close(script, current))
            current = []
        else:
            current.append(t)
            if t.kind == "word":
                depth = _block_depth(depth, t, current, script.engine)
    if current:
        _close(script, current)


def _next(script: Script, current: list[Token], pos: int) -> tuple[Token | None, int]:
    """The next token: the literal rows after VALUES as one bulk token, an sqlite3 shell dot-command as one
    meta token (the whole line)."""
    text = script.text
    if current and current[-1].kind == "word" and current[-1].value == "values":
        m = _BULK.match(text, pos)
        if m:
            return Token("bulk", m.group(1), "", m.start(1)), m.end()
    t, pos = _lex(text, pos, len(text), script.engine)
    if t is not None and not current and t.text == "." and t.kind == "op" and _at_line_start(text, t.start):
        line_end = text.find("\n", t.start)
        pos = len(text) if line_end < 0 else line_end
        t = Token("meta", text[t.start:pos], "", t.start)
    return t, pos


def _block_depth(depth: int, t: Token, current: list[Token], engine: str) -> int:
    if depth == 0 and t.value in ("begin", "atomic") and _block_statement(current, engine):
        return 1
    if depth > 0 and t.value == "case":
        return depth + 1
    if depth > 0 and t.value == "end":
        return depth - 1
    return depth


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
    message = refused("refused_meta_command", script.engine, f"{kind} {command} ({why})")
    script.problems.append(Finding(ERROR, "refused_meta_command", message,
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


def depth0(tokens) -> list[Token]:
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
    d0 = depth0(tokens)
    return zip(d0, d0[1:])
