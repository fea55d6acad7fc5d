"""Fixtures of the runner tests: a real HTTP service to deploy to, and a runtime on the real clock.

The service reads its release from ``live/`` on each request. A release is a folder (``releases/v1``,
``releases/v2``…) that a deployment step copies over ``live/``; the protect step copies ``live/`` to
``backup/`` and the change's rollback script copies it back.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from changegate.db.engine import make_engine
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import DEFAULT_POLICY, Settings

from runner_support import SERVICE, TEST_DEPLOY, TEST_WRITER_WAIT, Service, _free_port  # noqa: F401


@pytest.fixture(autouse=True)
def short_writer_wait(monkeypatch):
    """The short test lease needs a short SQLite writer wait (core/runs/lease.py): here and in subprocesses."""
    from changegate.db import engine

    monkeypatch.setattr(engine, "WRITER_WAIT_SECONDS", TEST_WRITER_WAIT)
    monkeypatch.setenv("CHANGEGATE_SQLITE_WRITER_WAIT", str(TEST_WRITER_WAIT))


@pytest.fixture
def service(tmp_path):
    root = tmp_path / "svc"
    (root / "live").mkdir(parents=True)
    (root / "backup").mkdir()
    svc = Service(root, "")
    v1 = svc.release("v1", version="1.0.0")
    for f in v1.iterdir():
        (root / "live" / f.name).write_text(f.read_text())
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(SERVICE), str(root / "live"), str(port)])
    svc.url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            if svc.get("/version").status_code == 200:
                break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield svc
    proc.kill()
    proc.wait()


@pytest.fixture
def policy_file(tmp_path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(Path(DEFAULT_POLICY).read_text() + TEST_DEPLOY)
    return path


@pytest.fixture
def rt(database_url, policy_file):
    """A runtime on the real clock: runs wait for T+N in real time (a second in these tests)."""
    settings = Settings(database_url=database_url, policy=policy_file, max_evidence_bytes=64 * 1024)
    runtime = Runtime(settings, make_engine(database_url), load_policy(policy_file))
    yield runtime
    runtime.close()


@pytest.fixture
def rt_server(rt):
    """changegate's API on the runner tests' runtime (real clock, short lease), on a loopback port."""
    import threading

    import uvicorn

    from changegate.api.app import create_app

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


@pytest.fixture
def rt_tokens(rt) -> dict[str, str]:
    from changegate.services.tokens import create_token

    with rt.uow() as uow:
        return {p.id: create_token(uow, rt.context("chris.change"), p.id, "test").secret for p in rt.policy.people}
