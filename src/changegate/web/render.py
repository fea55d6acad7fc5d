"""Templates and the helpers every page uses: who is signed in, the version, the CSRF token."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from .. import __version__
from ..core.policy.model import Permission, Person

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# One environment for the process: each template is compiled once, and never checked again against its file
# (auto_reload off: the templates ship inside the package and change only with it).
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True, auto_reload=False)


def _when(value: datetime | None, zone: str | None = None) -> str:
    """UTC and, where the plant has a time zone, its wall clock: '2026-12-01 08:00 UTC (09:00 Europe/Berlin)'."""
    if value is None:
        return "–"
    text = f"{value:%Y-%m-%d %H:%M} UTC"
    if zone:
        text += f" ({value.astimezone(ZoneInfo(zone)):%H:%M} {zone})"
    return text


def _words(value: object) -> str:
    return str(getattr(value, "value", value) or "").replace("_", " ")


def _hm(value: datetime, zone: str) -> str:
    return f"{value.astimezone(ZoneInfo(zone)):%H:%M}"


@lru_cache(maxsize=256)
def _sql(text: str) -> Markup:
    """SQL as HTML with its tokens in classes (static/style.css colours them; inline styles would break the
    CSP). Pygments escapes the text; imported on first use, the pages that show no SQL never load it. Kept by
    content (256 texts): a change page built afresh after a write highlights the same scripts again."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import SqlLexer

    return Markup(highlight(text, SqlLexer(), HtmlFormatter(nowrap=True, classprefix="tok-")))


_env.filters["when"] = _when
_env.filters["sql"] = _sql
_env.filters["hm"] = _hm
_env.filters["words"] = _words


def render(request: Request, template: str, *, me: Person | None = None, status_code: int = 200,
           **data) -> HTMLResponse:
    return HTMLResponse(page_html(request, template, me=me, **data), status_code=status_code)


def page_html(request: Request, template: str, *, me: Person | None = None, **data) -> str:
    session = getattr(request.state, "web", None)
    ctx = getattr(request.state, "ctx", None)  # the signed-in person's context, set by deps.viewer
    me = me or (ctx.actor if ctx else None)
    may_create = ctx is not None and ctx.may(Permission.CHANGE_CREATE)
    may_audit = ctx is not None and ctx.may(Permission.AUDIT_READ)
    return _env.get_template(template).render(
        request=request, me=me, may_create=may_create, may_audit=may_audit, version=__version__, csrf=session.csrf if session else "",
        flash=session.take_flash() if session else "", **data,
    )


def fragment_html(template: str, **data) -> str:
    """A partial template alone (no page around it, nothing taken from the session): what a page's script
    puts in place (the run page's live body)."""
    return _env.get_template(template).render(**data)
