"""Kept pages (services/web_cache.py) are keyed on the read version as well as the audit head: a committed write
that appends no audit event (a run's lease renewal, its notes; here a change's title set in a unit of work)
shows at the very next request, on every kept page. Over real HTTP, both engines."""

from __future__ import annotations

import re
from contextlib import contextmanager

import httpx
from sqlalchemy import event

from browsing import PASSWORD, assessed_change
from changegate.services.lookup import load

KEPT_PAGES = ("/", "/changes/{ref}", "/approvals")


def signed_in(base: str, person: str) -> httpx.Client:
    """A client holding a signed-in session cookie (close it after use)."""
    client = httpx.Client(base_url=base, timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/sign-in").text).group(1)
    answer = client.post("/sign-in", data={"csrf": csrf, "person": person, "password": PASSWORD, "next": "/"})
    assert answer.status_code == 303, answer.text
    return client


@contextmanager
def statements(runtime):
    seen: list[str] = []
    watch = lambda conn, cursor, statement, *args: seen.append(statement)  # noqa: E731
    event.listen(runtime.engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", watch)


def test_a_write_without_an_audit_event_shows_at_the_next_request(server, runtime, passwords_for):
    ref = assessed_change(runtime, title="Add OEE dashboard to the line screens")
    passwords_for("ines.itmgr")
    client = signed_in(server, "ines.itmgr")
    try:
        for path in KEPT_PAGES:
            assert "Add OEE dashboard" in client.get(path.format(ref=ref)).text
            with statements(runtime) as seen:
                assert "Add OEE dashboard" in client.get(path.format(ref=ref)).text
            assert len(seen) == 1, (path, seen)  # kept: only the session's check (with the head and version)
        with runtime.uow() as uow:
            load(uow, ref, for_update=True).title = "Renamed without an audit event"  # moves only the read version
        for path in KEPT_PAGES:
            page = client.get(path.format(ref=ref)).text
            assert "Renamed without an audit event" in page, path
            assert "Add OEE dashboard" not in page, path
    finally:
        client.close()
