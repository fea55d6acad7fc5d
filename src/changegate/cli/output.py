"""Printing results and errors; the one map from errors to exit codes (house rule 6)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

from ..core.errors import ChangegateError, Conflict, Forbidden, Refused


class _LazyConsole:
    """A Rich console built on first print: importing Rich costs ~60 ms that ``--version`` should not pay."""

    def __init__(self, **options: Any):
        self._options = options
        self._console = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


console = _LazyConsole(soft_wrap=True)  # lines are for logs and pipes: never wrap them
err_console = _LazyConsole(stderr=True, soft_wrap=True)


def escape(text: str) -> str:
    """Rich's markup escape, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)

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
