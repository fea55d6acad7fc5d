"""Printing results and errors; the one map from errors to exit codes (house rule 6)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

from ..core.errors import ChangegateError, Conflict, Forbidden, Refused


# Rich's markup, for the plain case: its tag and escape patterns (rich/markup.py), and the emoji codes it
# would replace in text that holds no letter (rich/_emoji_codes.py; tests/cli/test_plain_output.py checks
# both against the installed Rich).
_TAGS = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
_EMOJI = re.compile(r":(\S*?)(?:-(?:emoji|text))?:")
LETTERLESS_EMOJI = frozenset({"100", "1234", "+1", "__1", "-1"})
_NOT_PLAIN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # control characters Rich strips or expands


def _emoji_free(text: str) -> bool:
    return not any(re.search("[A-Za-z]", m[1]) or m[1] in LETTERLESS_EMOJI for m in _EMOJI.finditer(text))


def _segments(markup: str):
    """Rich's ``markup._parse``: the text pieces (None for a tag), in order."""
    position, opened = 0, 0
    for match in _TAGS.finditer(markup):
        full, escapes, tag = match.groups()
        start, end = match.span()
        if start > position:
            yield markup[position:start]
        position = end
        backslashes, escaped = divmod(len(escapes), 2)
        if backslashes:
            yield "\\" * backslashes
        if escaped:
            yield full[len(escapes):]
        elif tag.startswith("@") or (tag.startswith("/") and tag != "/"):
            yield "@"  # a meta tag or a closing tag by name: Rich's business
        else:
            opened += 1 if tag != "/" else -1
            yield "@" if opened < 0 else None  # "[/]" closing nothing: Rich raises
    if position < len(markup):
        yield markup[position:]


def plain_markup(markup: str) -> str | None:
    """What Rich prints for ``markup`` on a console that is not a terminal (no styles): the text pieces with
    the tags dropped and the escapes undone; None when Rich might print something else (an emoji code, a
    control character, a meta tag), and then Rich prints it."""
    if _NOT_PLAIN.search(markup):
        return None
    pieces = [p.replace("\\[", "[") for p in _segments(markup) if p is not None]
    if "@" in pieces or not all(_emoji_free(p) for p in pieces):
        return None
    return "".join(pieces)


def _terminal(file: Any) -> bool:
    """Rich's ``Console.is_terminal`` for a console built with no explicit choice."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return bool(getattr(file, "isatty", lambda: False)())
    except ValueError:
        return False


class _LazyConsole:
    """A Rich console built on first need: importing Rich costs ~60 ms that ``--version`` should not pay, nor
    a pipeline's ``gate`` whose output is not a terminal: a line of markup printed where no style shows is
    written as Rich would write it (``plain_markup``), without Rich."""

    def __init__(self, **options: Any):
        self._options = options
        self._console = None

    def print(self, *objects: Any, **options: Any) -> None:
        file = sys.stderr if self._options.get("stderr") else sys.stdout
        plain = None
        if (self._console is None and len(objects) == 1 and isinstance(objects[0], str)
                and set(options) <= {"highlight", "soft_wrap"} and options.get("highlight", True) is False
                and options.get("soft_wrap", True) and self._options.get("soft_wrap") and not _terminal(file)):
            plain = plain_markup(objects[0])
        if plain is None:
            self.__getattr__("print")(*objects, **options)
            return
        file.write(plain + "\n")
        file.flush()

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


console = _LazyConsole(soft_wrap=True)  # lines are for logs and pipes: never wrap them
err_console = _LazyConsole(stderr=True, soft_wrap=True)


def escape(text: str) -> str:
    """Rich's markup escape (rich.markup.escape), without importing Rich."""
    text = _ESCAPE.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)
    return text + "\\" if text.endswith("\\") and not text.endswith("\\\\") else text


OK, BLOCKED, USAGE = 0, 1, 2


def exit_code_of(exc: ChangegateError) -> int:
    # Blocked by a rule or by a concurrent writer: 1. Anything the caller must fix in the call: 2.
    return BLOCKED if isinstance(exc, (Refused, Forbidden, Conflict)) else USAGE


def fail(exc: ChangegateError) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
    for reason in exc.reasons:
        err_console.print(f"  - {escape(reason.message)} [dim]({reason.code})[/]", highlight=False, soft_wrap=True)
    for problem in getattr(exc, "problems", ()):
        err_console.print(f"  - {escape(str(problem))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code_of(exc))


def read_text(path: Path, what: str) -> str:
    """A file the user named, as UTF-8 text; exit 2 with a sentence naming it (and the line) if not."""
    try:
        data = path.read_bytes()  # bytes as they are: a SHA-256 taken later is the file's own
    except FileNotFoundError:
        usage(f"the {what} {path} does not exist")
    except OSError as exc:
        usage(f"cannot read the {what} {path}: {exc.strerror or exc}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        usage(f"the {what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})")


def usage(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(USAGE)


def plant_time(start: str | None, end: str | None, timezone: str | None) -> str:
    """`` = 2026-12-08 09:00–09:30 Europe/Berlin``: the plant's wall clock beside a UTC instant or span."""
    if not start or not timezone:
        return ""
    span = f"{start[:10]} {start[11:16]}" + (f"–{end[11:16]}" if end else "")
    if end and end[:10] != start[:10]:
        span = f"{start[:10]} {start[11:16]} – {end[:10]} {end[11:16]}"
    return f" = {span} {timezone}"


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else escape(str(v)) for v in r])
    console.print(t)
