"""Fixtures of the job engine's tests: a runtime on the real clock with a short lease, and changegate's own
processes (serve, worker) started as real subprocesses. Helpers are in jobs_support.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from changegate.db.engine import make_engine
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import DEFAULT_POLICY, Settings

# A short lease: a killed worker's run is taken over within seconds. No wait for T+N.
JOBS_DEPLOY = "\ndeploy:\n  lease: 3s\n  check_after: 0s\n"


@pytest.fixture(autouse=True)
def short_writer_wait(monkeypatch):
    """A 3 s lease must outlast twice the SQLite writer wait (core/runs/lease.py): 1 s here and in subprocesses."""
    from changegate.db import engine

    monkeypatch.setattr(engine, "WRITER_WAIT_SECONDS", 1)
    monkeypatch.setenv("CHANGEGATE_SQLITE_WRITER_WAIT", "1")


@pytest.fixture
def policy_file(tmp_path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(Path(DEFAULT_POLICY).read_text() + JOBS_DEPLOY)
    return path


@pytest.fixture
def rt(database_url, policy_file):
    runtime = Runtime(Settings(database_url=database_url, policy=policy_file), make_engine(database_url),
                      load_policy(policy_file))
    yield runtime
    from changegate import jobs

    jobs.engine_for(runtime).close()
    runtime.close()


@pytest.fixture
def cli_env(database_url, policy_file) -> dict:
    return {**os.environ, "CHANGEGATE_DATABASE_URL": database_url, "CHANGEGATE_POLICY": str(policy_file),
            "CHANGEGATE_USER": "rene.release"}


@pytest.fixture
def processes():
    """Start changegate commands as subprocesses; whatever is still running at the end is killed."""
    started: list[subprocess.Popen] = []

    def start(env: dict, *args: str, log: Path) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "changegate.cli.main", *args], env=env,
                                stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
