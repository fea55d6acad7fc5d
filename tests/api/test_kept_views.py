"""The API's kept views (issue 13, services/read_model.py), on SQLite and PostgreSQL.

A change's JSON is kept per process and validated on every request by one read of the read version,
which every committed write moves: a repeated GET reads nothing through the engine; a comment added or a
token revoked by another process (a real one, a subprocess on the same database) is seen on the very next
request; gate decisions do not spoil what is kept; what depends on the clock is kept only until it changes.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import event

from changegate.settings import DEFAULT_POLICY

# Another process writing through the services, as a CLI or another server process on the database would.
OTHER_PROCESS = """
import sys
from changegate.schemas.changes import CommentIn
from changegate.services import changes, tokens
from changegate.services.runtime import Runtime
from changegate.settings import Settings

url, what, ref = sys.argv[1:4]
rt = Runtime.from_settings(Settings(database_url=url, policy=sys.argv[4]))
with rt.uow() as uow:
    if what == "comment":
        changes.add_comment(uow, rt.context("dana.dev"), ref, CommentIn(body="written elsewhere"))
    else:
        for token in uow.tokens.list("dana.dev"):
            tokens.revoke_token(uow, rt.context("chris.change"), token.id)
rt.close()
"""


def elsewhere(runtime, what: str, ref: str = "-") -> None:
    subprocess.run([sys.executable, "-c", OTHER_PROCESS, runtime.settings.database_url, what, ref,
                    str(DEFAULT_POLICY)], check=True, timeout=120)


@pytest.fixture
def statements(runtime):
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", record)
    yield sent
    event.remove(runtime.engine, "before_cursor_execute", record)


def _create(client, **extra) -> str:
    body = {"title": "Relabel", "category": "application", "release_level": "patch", "environment": "prod",
            "items": ["mes-labels"], **extra}
    created = client.post("/changes", json=body)
    assert created.status_code == 201, created.text
    return created.json()["ref"]


def test_kept_view_is_served_without_a_statement_until_another_process_writes(runtime, as_, statements):
    dana = as_("dana.dev")
    ref = _create(dana)
    first = dana.get(f"/changes/{ref}")
    assert first.status_code == 200, first.text
    statements.clear()
    again = dana.get(f"/changes/{ref}")
    assert again.status_code == 200 and again.content == first.content
    assert statements == []  # kept: only the read version was read, on the probe's own connection

    elsewhere(runtime, "comment", ref)
    seen = dana.get(f"/changes/{ref}")
    assert seen.status_code == 200 and [c["body"] for c in seen.json()["comments"]] == ["written elsewhere"]

    dana.get(f"/changes/{ref}")  # kept again under the new version
    elsewhere(runtime, "revoke")
    refused = dana.get(f"/changes/{ref}")
    assert refused.status_code == 401 and "was revoked" in refused.json()["message"], refused.text


def test_gate_decisions_leave_kept_views_valid(as_, statements):
    dana = as_("dana.dev")
    ref = _create(dana)
    dana.get(f"/changes/{ref}")
    decided = dana.post(f"/changes/{ref}/gate", json={"environment": "prod"})
    assert decided.status_code == 200, decided.text
    statements.clear()
    assert dana.get(f"/changes/{ref}").status_code == 200
    assert statements == []  # the decision's event changed no record: the version did not move


def test_what_depends_on_the_clock_is_kept_only_until_it_changes(runtime, as_, clock):
    sam, ines = as_("sam.sysadmin"), as_("ines.itmgr")
    ref = _create(sam, type="emergency", release_level="minor", title="Scanner timeout stops line 2",
                  impact_analysis="Line 2 scanners.", implementation_plan="Raise the timeout.",
                  verification_plan="Scan one pallet.", rollback_plan={"script": "restore", "interpreter": "sh"},
                  planned_start="2026-12-02T08:00:00Z", estimated_downtime="30m", version="2.4.1")
    for action, extra in (("submit", {}), ("start", {"override_reason": "line 2 is down"}), ("complete", {})):
        moved = sam.post(f"/changes/{ref}/transitions", json={"action": action, **extra})
        assert moved.status_code == 200, moved.text
    assert ines.post(f"/changes/{ref}/approvals", json={"role": "it_manager"}).status_code == 200
    assert sam.get(f"/changes/{ref}").json()["emergency_status"] == "pending"
    assert sam.get(f"/changes/{ref}").json()["emergency_status"] == "pending"  # kept ...
    clock.advance(hours=49)  # ... but not past its retroactive approval's due instant
    assert sam.get(f"/changes/{ref}").json()["emergency_status"] == "overdue"


def test_an_expired_token_is_refused_on_a_kept_view(runtime, as_, clock):
    from datetime import timedelta

    import httpx

    from changegate.services.tokens import create_token

    with runtime.uow() as uow:
        secret = create_token(uow, runtime.context("chris.change"), "dana.dev", "short",
                              expires_at=clock.now + timedelta(hours=1)).secret
    dana = as_("dana.dev")
    ref = _create(dana)
    short = httpx.Client(base_url=str(dana.base_url), headers={"Authorization": f"Bearer {secret}"})
    try:
        assert short.get(f"/changes/{ref}").status_code == 200
        assert short.get(f"/changes/{ref}").status_code == 200
        clock.advance(hours=2)
        expired = short.get(f"/changes/{ref}")
        assert expired.status_code == 401 and "expired" in expired.json()["message"], expired.text
    finally:
        short.close()


def test_a_shared_version_read_never_answers_a_request_that_came_while_it_ran():
    """The PostgreSQL probe shares one read among concurrent requests (db/read_version.py). A request
    arriving while a read is under way must wait for the next one: the running read may have been sent
    before a write the request already saw committed."""
    import asyncio

    from changegate.db.read_version import _SharedRead

    async def scenario():
        started: list[int] = []
        release = [asyncio.Event(), asyncio.Event()]

        async def read():
            n = len(started)
            started.append(n)
            await release[n].wait()
            return n

        shared = _SharedRead(read)
        early = [asyncio.ensure_future(shared.get()) for _ in range(3)]
        await asyncio.sleep(0)  # the first read starts, with the three early requests waiting on it
        await asyncio.sleep(0)
        late = [asyncio.ensure_future(shared.get()) for _ in range(2)]  # they come while it runs
        await asyncio.sleep(0)
        release[0].set()
        assert await asyncio.gather(*early) == [0, 0, 0]
        release[1].set()
        assert await asyncio.gather(*late) == [1, 1]  # one more read, shared by the two late requests
        assert started == [0, 1]

    asyncio.run(scenario())


def test_the_probe_closes_its_connections_with_the_engine(database_url):
    """The version's probe opens connections outside the pool; disposing of the engine (Runtime.close)
    closes them, so a process that makes many runtimes (a test run) does not pile up server connections."""
    import asyncio

    from changegate.db.engine import make_engine
    from changegate.db.read_version import ReadVersionProbe

    engine = make_engine(database_url)
    probe = ReadVersionProbe(engine)
    try:
        assert probe.current() is not None
        assert asyncio.run(probe.current_async()) is not None
        opened = [conn for conn, _ in probe._opened]
        assert opened
        engine.dispose()
        assert probe._opened == []
        for conn in opened:
            closed = getattr(conn, "closed", None)
            if closed is None:  # sqlite3: a closed connection refuses to run anything
                with pytest.raises(Exception):
                    conn.execute("SELECT 1")
            else:
                assert closed
        assert probe.current() is not None  # asked again: a new connection
    finally:
        engine.dispose()


def test_creating_a_change_leaves_the_others_kept(as_, statements):
    """A new change is a draft nobody has read: creating one does not spoil what other requests keep."""
    dana = as_("dana.dev")
    ref = _create(dana)
    first = dana.get(f"/changes/{ref}").content
    other = _create(dana, title="Another")
    statements.clear()
    assert dana.get(f"/changes/{ref}").content == first
    assert statements == []
    assert dana.get(f"/changes/{other}").json()["title"] == "Another"


def _read_version(runtime) -> int:
    from sqlalchemy import text

    with runtime.engine.connect() as conn:
        return conn.execute(text("SELECT version FROM read_versions WHERE id = 1")).scalar_one()


def test_a_creation_with_anything_else_in_its_unit_of_work_moves_the_read_version(runtime):
    """Only a creation alone leaves kept views valid: creating a change and commenting on another in the same
    unit of work (or loading the demo, which does everything in one) moves the version."""
    from changegate.schemas.changes import ChangeCreate, CommentIn
    from changegate.services import changes
    from changegate.services.demo import load_demo

    def create(uow, title: str):
        return changes.create_change(uow, runtime.context("dana.dev"), ChangeCreate(
            title=title, category="application", release_level="patch", environment="prod", items=["mes-labels"]))

    before = _read_version(runtime)
    with runtime.uow() as uow:
        first = create(uow, "alone")
    assert _read_version(runtime) == before  # a creation alone: kept views stay valid
    with runtime.uow() as uow:
        changes.add_comment(uow, runtime.context("dana.dev"), first.ref, CommentIn(body="and then"))
        create(uow, "after a comment")
    assert _read_version(runtime) > before
    moved = _read_version(runtime)
    with runtime.uow() as uow:
        create(uow, "before a comment")
        changes.add_comment(uow, runtime.context("dana.dev"), first.ref, CommentIn(body="again"))
    assert _read_version(runtime) > moved
    moved = _read_version(runtime)
    load_demo(runtime)
    assert _read_version(runtime) > moved
