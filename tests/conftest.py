"""Shared fixtures: real SQLite files and a real throwaway PostgreSQL cluster.

Tests that need PostgreSQL skip when no server binaries are installed, and fail
instead when CHANGEGATE_REQUIRE_ALL=1 (set by .ci/run after installing them).
"""

from __future__ import annotations

import os

import pytest

from changegate.runner.pgcluster import PostgresUnavailable, start_throwaway_cluster

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
