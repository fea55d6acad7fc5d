"""Lines printed where no style shows are written without Rich (cli/output.py): exactly what Rich writes."""

from __future__ import annotations

import io
import re

import pytest
import rich.markup
from rich._emoji_codes import EMOJI
from rich.console import Console

from changegate.cli import output
from changegate.cli.output import escape, plain_markup

TEXTS = [
    "plain", "", "a [b] c", "[b]x", "back\\slash\\", "two\\\\", "\\[not a tag]", "\\\\[bold]x[/]", "[x=1] y",
    "CHG-1 → prod at 2026-12-08T08:00:00Z = 2026-12-08 09:00–10:00 Europe/Berlin",
    "ratio :100: and :+1: and :smile: and :smile-emoji: and 08:00:00", "12:30:45 -1:00:", "wide 界界 ✓ é",
    "multi\nline", "tab\there", "bell\x07", "x" * 300, "[link=http://x]x[/link]", "[@click]x[/]", "[/]",
    "a:[b]smile[/]:", "@ at", "[[b]]", "[#ff0000]hex[/]", "[/b]",
]


def rich_prints(markup: str) -> str:
    out = io.StringIO()
    Console(file=out, soft_wrap=True).print(markup, highlight=False)
    return out.getvalue()


@pytest.mark.parametrize("text", TEXTS)
def test_escape_is_riches(text):
    assert escape(text) == rich.markup.escape(text)


@pytest.mark.parametrize("text", TEXTS)
def test_plain_lines_are_what_rich_prints(text):
    for markup in (text, escape(text), f"[bold green]GO[/] {escape(text)} [dim](code)[/]",
                   f"  [red]{'FAIL':<12}[/] rule: {escape(text)}"):
        plain = plain_markup(markup)
        if plain is not None:  # None: left to Rich
            assert plain + "\n" == rich_prints(markup), markup
    assert plain_markup(f"[bold green]allowed[/] {escape('ok')}") == "allowed ok"


def test_the_emoji_codes_without_letters_are_riches():
    assert output.LETTERLESS_EMOJI == {k for k in EMOJI if not re.search("[A-Za-z]", k)}


def test_a_console_writes_plain_lines_to_a_pipe_and_styles_to_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    console = output._LazyConsole(soft_wrap=True)
    console.print("[bold red]BLOCKED[/] CHG-1", highlight=False)
    assert capsys.readouterr().out == "BLOCKED CHG-1\n" and console._console is None
    monkeypatch.setenv("FORCE_COLOR", "1")  # Rich's own rule: styles, so Rich prints
    console.print("[bold red]BLOCKED[/] CHG-1", highlight=False)
    assert "\x1b[" in capsys.readouterr().out and console._console is not None
