"""The templates' environment: compiled once per process, heavy filters kept by content (no browser)."""

from __future__ import annotations

from changegate.web import render


def test_templates_are_compiled_once_and_not_checked_against_their_files():
    assert render._env.auto_reload is False  # else every page stats its template files on every request
    assert render._env.get_template("change.html") is render._env.get_template("change.html")


def test_sql_is_highlighted_once_per_text():
    script = "UPDATE line_3 SET state = 'stopped' WHERE id = 7; -- test_render"
    first = render._sql(script)
    assert 'class="tok-k"' in first  # highlighted: keywords in their class
    assert render._sql(script) is first  # the same text: pygments not run again
