"""Refusals and the execution plan of a SQL script. Pure: no I/O.

Refusals: anything that would reach outside the scratch database (server files, programs, other
databases, untrusted languages) is refused before the script runs. Bodies that are code
(dollar-quoted bodies, ``AS '…'`` function bodies, ``DO '…'``, ``EXECUTE '…'`` / ``format('…')``)
are scanned as code too. The execution plan says whether the script can run in one transaction.
"""

from __future__ import annotations

from .advice import refused
from .script import ERROR, WARNING, Finding, LexError, Script, Statement, Token, depth0, tokenize

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
    message = refused(code, script.engine, message)
    line, col = script.position(tok.start)
    excerpt_end = script.text.find("\n", tok.start)
    excerpt = script.text[tok.start: excerpt_end if excerpt_end > 0 else None].strip()[:120]
    script.problems.append(Finding(ERROR, code, message, script.name, line, col, excerpt))


class _View:
    """Words and names of a token list by index; out of range (or another kind of token) reads as ""."""

    def __init__(self, toks):
        self.toks, self.n = toks, len(toks)

    def word(self, k: int) -> str:
        t = self.toks[k] if 0 <= k < self.n else None
        return t.value if t is not None and t.kind == "word" else ""

    def name(self, k: int) -> str:  # word or quoted identifier, lower-cased: quoting must not hide a name
        t = self.toks[k] if 0 <= k < self.n else None
        return t.value.lower() if t is not None and t.kind in ("word", "qident") else ""


def _scan(script: Script, toks: tuple[Token, ...] | list[Token], routine: bool, level: int) -> None:
    v = _View(toks)
    after = _COMMAND_AFTER_IN_BODY if level else _COMMAND_AFTER
    for i, t in enumerate(toks):
        # bodies that are code; inside a body every string may be SQL run by EXECUTE (or format() of it)
        if level < 6 and (t.kind == "dollar" or (t.kind == "string" and (level or _code_string(toks, i)))):
            _scan_body(script, t, level)
            continue
        _scan_call(script, v, i)
        _scan_language(script, v, i)
        if routine and level == 0 and t.is_word("set") and v.word(i + 1) in ("role", "session"):
            _refuse(script, t, "refused_role", "a function that switches role (SET ROLE / SESSION AUTHORIZATION)")
        if t.kind == "word" and (i == 0 or toks[i - 1].kind == "semi" or v.word(i - 1) in after):
            _scan_command(script, v, i, level)  # at the start of a statement (or of a PL/pgSQL statement)


def _scan_body(script: Script, t: Token, level: int) -> None:
    try:
        inner = tokenize(script.text, script.engine, t.inner, t.inner + len(t.value))
    except LexError:
        inner = []  # a body that is not code (or uses a quoting we can't see through)
    _scan(script, inner, routine=False, level=level + 1)


def _scan_call(script: Script, v: _View, i: int) -> None:
    """Function calls, qualified or quoted or not."""
    fn, t = v.name(i), v.toks[i]
    if not fn or i + 1 >= v.n or v.toks[i + 1].text != "(":
        return
    if fn in _FILE_FUNCS or (fn in _SQLITE_SHELL_FUNCS and script.engine == "sqlite"):
        _refuse(script, t, "refused_server_file", f"{fn}() reads or writes files on the database server")
    elif fn.startswith("dblink"):
        _refuse(script, t, "refused_foreign_data", f"{fn}() connects to another database")
    elif fn in _SERVER_FUNCS:
        _refuse(script, t, "refused_server_control", f"{fn}() acts on the server or other sessions")
    elif fn == "set_config":
        arg = v.toks[i + 2] if i + 2 < v.n else None
        setting = arg.value.lower() if arg is not None and arg.kind == "string" else None
        if setting is None or setting in _GUARDED_SETTINGS:
            _refuse(script, t, "refused_setting", f"set_config({setting or 'a computed name'!r}) "
                    "may change the session's role or how the script is read")


def _scan_language(script: Script, v: _View, i: int) -> None:
    """LANGUAGE c, "C", 'plpython3u'."""
    nxt = v.toks[i + 1] if i + 1 < v.n else None
    if v.toks[i].is_word("language") and nxt is not None and nxt.kind in ("word", "qident", "string") \
            and nxt.value.lower() in _UNTRUSTED_LANGUAGES:
        _refuse(script, v.toks[i], "refused_untrusted_language",
                f"code in language {nxt.value.lower()} runs outside the database's sandbox")


def _scan_command(script: Script, v: _View, i: int, level: int) -> None:
    t = v.toks[i]
    scan = _COMMANDS.get(t.value)
    if scan is not None:
        scan(script, v, i, level, _until_semi(v.toks, i))


def _scan_copy(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    d0 = depth0(rest)
    for a, b in zip(d0, d0[1:]):
        if a.is_word("from", "to") and b.is_word("program"):
            _refuse(script, v.toks[i], "refused_copy_program", "COPY … PROGRAM runs a shell command on the server")
        elif a.is_word("from", "to") and b.kind in ("string", "dollar"):
            _refuse(script, v.toks[i], "refused_copy_file", f"COPY … {a.value.upper()} a server file "
                    "(only COPY … FROM STDIN / TO STDOUT is allowed)")


def _scan_attach(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    if level == 0 and v.word(i + 1) != "partition":
        _refuse(script, v.toks[i], "refused_attach", f"{v.word(i).upper()} DATABASE reaches another database file")


def _scan_load(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    if i + 1 < v.n and v.toks[i + 1].kind in ("string", "dollar", "word", "qident"):
        _refuse(script, v.toks[i], "refused_load", "LOAD loads a shared library into the server")


def _scan_vacuum(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    if any(x.is_word("into") for x in rest):
        _refuse(script, v.toks[i], "refused_server_file",
                "VACUUM INTO writes a database file outside the scratch database")


def _scan_pragma(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    w1 = v.word(i + 1)
    if w1 in ("temp_store_directory", "data_store_directory"):
        _refuse(script, v.toks[i], "refused_server_file", f"PRAGMA {w1} points SQLite at another directory")


def _scan_import(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    if v.word(i + 1) == "foreign":
        _refuse(script, v.toks[i], "refused_foreign_data", "IMPORT FOREIGN SCHEMA reaches another server")


def _scan_reassign(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    _refuse(script, v.toks[i], "refused_role", f"{v.word(i).upper()} OWNED changes objects of a role across the "
            "cluster")


def _scan_grant(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    if not any(x.is_word("on") for x in depth0(rest)):
        _refuse(script, v.toks[i], "refused_role",
                f"{v.word(i).upper()} of a role membership changes roles across the cluster")


def _scan_set(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    verb, w1, w2, t = v.word(i), v.word(i + 1), v.word(i + 2), v.toks[i]
    k = 1 if w1 in ("session", "local") and w2 != "authorization" else 0
    param = v.name(i + 1 + k)
    value = _setting_value(list(rest[k + 1:]))
    if param == "role" or (w1 == "session" and w2 == "authorization"):
        _refuse(script, t, "refused_role", f"{verb.upper()} ROLE / SESSION AUTHORIZATION switches identity")
    elif verb == "set" and param == "standard_conforming_strings" and value not in ("on", "true", "1", "default"):
        _refuse(script, t, "refused_setting", "SET standard_conforming_strings other than on changes how "
                "string literals are read, so the check could not see the script as the server does")
    elif verb == "set" and param in ("client_encoding", "names") and \
            value.replace("-", "").replace("_", "") not in ("utf8", "unicode", "default"):
        _refuse(script, t, "refused_setting", "SET client_encoding other than UTF8 changes how the script is read")


def _scan_drop(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    if v.word(i + 1) == "owned":
        _scan_reassign(script, v, i, level, rest)
    else:
        _scan_ddl(script, v.toks[i], v.word(i), [v.word(i + k) for k in range(1, 7)], v.name, i)


def _scan_create_alter(script: Script, v: _View, i: int, level: int, rest: list[Token]) -> None:
    _scan_ddl(script, v.toks[i], v.word(i), [v.word(i + k) for k in range(1, 7)], v.name, i)


_COMMANDS = {"copy": _scan_copy, "attach": _scan_attach, "detach": _scan_attach, "load": _scan_load,
             "vacuum": _scan_vacuum, "pragma": _scan_pragma, "import": _scan_import, "reassign": _scan_reassign,
             "grant": _scan_grant, "revoke": _scan_grant, "set": _scan_set, "reset": _scan_set,
             "drop": _scan_drop, "create": _scan_create_alter, "alter": _scan_create_alter}


def _setting_value(rest: list[Token]) -> str:
    """The value of ``SET name [TO|=] value`` given the tokens after the name."""
    if rest and (rest[0].is_word("to") or rest[0].text == "="):
        rest = rest[1:]
    return rest[0].value.lower() if rest else ""


def _scan_ddl(script: Script, t: Token, verb: str, ws: list[str], name, i: int) -> None:
    words = [w for w in ws if w not in ("or", "replace", "trusted", "procedural", "if", "not", "exists")]
    obj = words[0] if words else ""
    refusal = _ddl_refusal(verb, obj, words[1:2])
    if refusal:
        _refuse(script, t, *refusal)
    elif obj == "extension" and verb == "create":
        k = i + 2
        while name(k) in ("if", "not", "exists"):
            k += 1
        ext = name(k)
        if ext in _FOREIGN_EXTENSIONS or ext.endswith("_fdw"):
            _refuse(script, t, "refused_foreign_data", f"CREATE EXTENSION {ext} reaches outside the database")


def _ddl_refusal(verb: str, obj: str, second: list[str]) -> tuple[str, str] | None:
    """(code, why) for CREATE/ALTER/DROP of something outside the scratch database, or None."""
    if obj == "language" and verb == "create":
        return "refused_untrusted_language", "CREATE LANGUAGE installs a procedural language"
    if obj == "system":
        return "refused_alter_system", "ALTER SYSTEM changes the server's configuration"
    if obj in ("user", "role", "group") and second != ["mapping"]:
        return "refused_role", f"{verb.upper()} {obj.upper()} changes roles across the cluster"
    if obj in ("database", "tablespace"):
        return "refused_database", f"{verb.upper()} {obj.upper()} reaches outside the scratch database"
    if obj in ("server", "subscription") or (obj == "foreign" and second in (["data"], ["table"])) \
            or (obj == "user" and second == ["mapping"]):
        what = obj if obj in ("server", "subscription") else f"{obj} {second[0]}"
        return "refused_foreign_data", f"{verb.upper()} {what.upper()} reaches another server"
    return None


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
    d0 = [t.value for t in depth0(stmt.tokens) if t.kind == "word"]
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
