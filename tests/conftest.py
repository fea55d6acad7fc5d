"""Shared fixtures: real SQLite files and a real throwaway PostgreSQL cluster.

Tests that need PostgreSQL skip when no server binaries are installed, and fail
instead when CHANGEGATE_REQUIRE_ALL=1 (set by .ci/run after installing them).
"""

from __future__ import annotations

import os

import pytest

from changegate.sqlcheck.pgcluster import PostgresUnavailable, start_throwaway_cluster

REQUIRE_ALL = os.environ.get("CHANGEGATE_REQUIRE_ALL") == "1"


def missing(what: str) -> None:
    """Skip a test whose prerequisite is absent, or fail under CHANGEGATE_REQUIRE_ALL=1."""
    if REQUIRE_ALL:
        pytest.fail(f"{what} is required (CHANGEGATE_REQUIRE_ALL=1) but unavailable")
    pytest.skip(f"{what} unavailable")


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL cluster per test process (each xdist worker has its own)."""
    try:
        cluster = start_throwaway_cluster()
    except PostgresUnavailable as exc:
        missing(f"PostgreSQL ({exc})")
    yield cluster
    cluster.stop()


# --- databases -------------------------------------------------------------------------------

import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from changegate.db.engine import make_engine
from changegate.db.migrate import upgrade
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import DEFAULT_POLICY, Settings


@pytest.fixture(scope="session")
def pg_template(pg_cluster):
    """A migrated database used as CREATE DATABASE … TEMPLATE, so each test starts from a fresh schema fast."""
    name = pg_cluster.create_database("template")
    engine = make_engine(pg_cluster.url(name))
    upgrade(engine)
    engine.dispose()
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh, migrated database on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'changegate.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    cluster = request.getfixturevalue("pg_cluster")
    template = request.getfixturevalue("pg_template")
    name = cluster.create_database("test", template=template)
    return cluster.url(name)


class Clock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    # A Tuesday morning in Europe/Berlin's winter time, inside the default deployment window.
    return Clock(datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc))


@pytest.fixture
def runtime(database_url, clock):
    settings = Settings(database_url=database_url, policy=DEFAULT_POLICY, max_evidence_bytes=64 * 1024)
    rt = Runtime(settings, make_engine(database_url), load_policy(DEFAULT_POLICY), clock)
    yield rt
    rt.close()


# --- a real HTTP server on loopback ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(runtime):
    """changegate's API served by uvicorn on 127.0.0.1 in a thread; yields the base URL."""
    import uvicorn

    from changegate.api.app import create_app

    port = free_port()
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


@pytest.fixture
def tokens(runtime) -> dict[str, str]:
    """An API token for every person of the default policy."""
    from changegate.services.tokens import create_token

    secrets = {}
    with runtime.uow() as uow:
        for person in runtime.policy.people:
            secrets[person.id] = create_token(uow, runtime.context("chris.change"), person.id, "test").secret
    return secrets


@pytest.fixture
def as_(server, tokens):
    """``as_("dana.dev")`` is an HTTP client for the API acting as that person."""
    clients = []

    def make(person: str) -> httpx.Client:
        client = httpx.Client(base_url=server + "/api/v1", headers={"Authorization": f"Bearer {tokens[person]}"},
                              timeout=30)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()
