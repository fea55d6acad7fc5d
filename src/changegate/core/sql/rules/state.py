"""What a statement leaves behind for the rules judging the statements after it (``Seen``)."""

from __future__ import annotations

from .base import Subject, bare
from .repeatable import is_add_constraint

_TIMEOUTS = ("lock_timeout", "statement_timeout")
_OFF = {"0", "default", ""}


def dropped_by(act) -> tuple[str, str] | None:
    """(column|constraint, name) for an ALTER TABLE … DROP action."""
    w = act.words
    if w[:1] != ["drop"]:
        return None
    what = w[1] if len(w) > 1 and w[1] in ("column", "constraint") else "column"
    j = 1 + (w[1:2] == [what])
    j += 2 * (w[j:j + 2] == ["if", "exists"])
    return what, (act.tokens[j].value if j < len(act.tokens) else "")


def observe(s: Subject) -> None:
    """Record what the statement created, dropped, checked or set."""
    seen, verb = s.seen, s.verb
    if verb == "create" and s.create.kind == "table":
        seen.created.add(bare(s.create.name))
    elif verb == "create" and s.create.kind == "index" and s.new_table(s.create.table):
        seen.new_indexes.add(s.create.name)
    elif verb == "drop":
        seen.dropped.add((s.drop.kind, s.drop.name))
    elif verb == "alter" and s.alter.kind == "table":
        _observe_actions(s)
    elif verb in ("set", "reset", "select"):
        _observe_timeout(s)
    if not seen.timeout_reported and s.pg:
        from .locks import strong_lock
        seen.timeout_reported = not seen.timeout and verb in ("alter", "create", "drop", "truncate", "lock",
                                                              "cluster", "reindex", "refresh") \
            and strong_lock(s) is not None


def _observe_actions(s: Subject) -> None:
    seen, name = s.seen, s.alter.name
    for act in s.alter.actions:
        d = dropped_by(act)
        if d:
            seen.dropped.add(d)
        w = [v.lower() for v in act.words]
        column = _not_null_check(w)
        if is_add_constraint(w) and column:
            if "valid" in w:  # NOT VALID: proven only once validated
                seen.pending_checks[w[2] if w[1] == "constraint" else ""] = f"{name}.{column}".lower()
            else:
                seen.not_null_checked.add(f"{name}.{column}".lower())
        if w[:2] == ["validate", "constraint"] and len(w) > 2 and w[2] in seen.pending_checks:
            seen.not_null_checked.add(seen.pending_checks.pop(w[2]))


def _not_null_check(w: list[str]) -> str | None:
    """The column of ``CHECK (column IS NOT NULL)`` in an action's words, or None."""
    if "check" not in w:
        return None
    k = w.index("check")
    inner = w[k + 1:k + 7]
    if len(inner) == 6 and inner[0] == "(" and inner[2:] == ["is", "not", "null", ")"]:
        return inner[1]
    return None


def _observe_timeout(s: Subject) -> None:
    """SET [SESSION|LOCAL] lock_timeout|statement_timeout, RESET, set_config('lock_timeout', …)."""
    vals = [v if v is not None else t.text for v, t in zip(s.vals, s.toks)]
    if s.verb == "select":
        k = next((j for j, v in enumerate(vals) if v == "set_config"), None)
        if k is None or len(s.toks) < k + 5 or s.toks[k + 2].kind != "string":
            return
        setting, value = s.toks[k + 2].value.lower(), s.toks[k + 4].value.lower()
    else:
        rest = vals[1 + (vals[1:2] in (["session"], ["local"])):]
        setting = (rest[0] or "").lower() if rest else ""
        value = "" if s.verb == "reset" else str(_value(rest[1:])).lower()
        if setting == "all":
            s.seen.timeouts.clear()
            return
    if setting in _TIMEOUTS:
        s.seen.timeouts[setting] = value.strip("'") not in _OFF


def _value(rest: list) -> str:
    if rest and rest[0] in ("to", "="):
        rest = rest[1:]
    return rest[0] if rest else ""
