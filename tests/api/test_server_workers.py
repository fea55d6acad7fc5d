"""``changegate serve --workers 2`` (issue 13): several server processes on one database, on both engines.

Nothing a worker decides lives only in its memory: a token revoked through one process is refused on the
very next request whichever process serves it, and the gate decisions answered by every process land in
the one audit chain, which verifies. Each request below opens a new connection, so the kernel spreads
them over the workers' shared listening socket.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from changegate.services import audit, changes
from changegate.settings import DEFAULT_POLICY

CHANGEGATE = Path(sys.executable).with_name("changegate")
REQUESTS = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes under ``pid`` (multiprocessing's resource tracker is a child too)."""
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _start(database_url: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": database_url, "CHANGEGATE_POLICY": str(DEFAULT_POLICY)}
    proc = subprocess.Popen([str(CHANGEGATE), "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/api/v1/ping", timeout=2).status_code == 200 and len(_workers(proc.pid)) >= 2:
                return proc, base
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_workers_share_revocation_and_one_chain(runtime, tokens, tmp_path):
    with runtime.uow() as uow:
        ref = changes.create_change(uow, runtime.context("dana.dev"), changes.ChangeCreate(
            title="Relabel", category="application", release_level="patch", environment="prod",
            items=["mes-labels"])).ref
    with runtime.uow(write=False) as uow:
        seq_before = audit.head(uow)["seq"]
    proc, base = _start(runtime.settings.database_url, tmp_path / "serve.log")
    dana = {"Authorization": f"Bearer {tokens['dana.dev']}"}
    chris = {"Authorization": f"Bearer {tokens['chris.change']}"}
    try:
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        for _ in range(REQUESTS):  # a new connection each: the workers share the listening socket
            decided = httpx.post(f"{base}/api/v1/changes/{ref}/gate", headers=dana, json={"environment": "prod"})
            assert decided.status_code == 200, decided.text
        listed = httpx.get(f"{base}/api/v1/tokens", headers=chris, params={"person": "dana.dev"}).json()
        revoked = httpx.delete(f"{base}/api/v1/tokens/{listed[0]['id']}", headers=chris)
        assert revoked.status_code == 200, revoked.text
        for _ in range(REQUESTS):
            for method, path, body in (("GET", f"/api/v1/changes/{ref}", None),
                                       ("POST", f"/api/v1/changes/{ref}/gate", {"environment": "prod"})):
                refused = httpx.request(method, base + path, headers=dana, json=body)
                assert refused.status_code == 401, refused.text
                assert "was revoked" in refused.json()["message"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)

    with runtime.uow(write=False) as uow:
        verdict = audit.verify(uow, runtime.context("chris.change"))
        events = uow.audit.for_entity(f"change:{int(ref.split('-')[1])}")
        head = audit.head(uow)
    assert verdict.ok, verdict.message
    assert sum(e.action == "gate.evaluated" for e in events) == REQUESTS
    # Every decision answered is in the chain, plus the revocation (and anything the refusals record).
    assert head["seq"] >= seq_before + REQUESTS + 1
