"""The graph index is never stale across real server processes: two ``changegate serve`` processes on one
database, each with its own index (built as it starts); a write through one is in the next impact answer of
the other, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from changegate.settings import DEFAULT_POLICY

CHANGEGATE = Path(sys.executable).with_name("changegate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(url: str, log: Path):
    port = free_port()
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": url, "CHANGEGATE_POLICY": str(DEFAULT_POLICY)}
    with log.open("w") as out:
        proc = subprocess.Popen([str(CHANGEGATE), "serve", "--port", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/api/v1/ping", timeout=2)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}/api/v1"
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(20)


def test_a_write_through_one_server_process_is_seen_by_the_other_at_once(plant, tokens, tmp_path):
    url = plant.settings.database_url
    chris, dana = ({"Authorization": f"Bearer {tokens[p]}"} for p in ("chris.change", "dana.dev"))

    def impacted(base: str, item: str) -> set[str]:
        r = httpx.post(f"{base}/cmdb/impact", json={"items": [item]}, headers=dana, timeout=30)
        assert r.status_code == 200, r.text
        return {i["name"] for i in r.json()["impacted"]}

    with ExitStack() as stack:
        one = stack.enter_context(served(url, tmp_path / "one.log"))
        two = stack.enter_context(served(url, tmp_path / "two.log"))
        before = impacted(two, "host-7")
        assert "mes-reports" not in before and impacted(one, "host-7") == before
        for path, body in (("/cmdb/items", {"name": "mes-reports", "type": "application"}),
                           ("/cmdb/relations", {"source": "mes-reports", "target": "db-mes-prod",
                                                "type": "depends_on"})):
            assert httpx.post(one + path, json=body, headers=chris, timeout=30).status_code == 201
        assert impacted(two, "host-7") == before | {"mes-reports"}
        r = httpx.post(f"{two}/cmdb/relations/delete", json={"source": "mes-core", "target": "db-mes-prod",
                                                              "type": "depends_on"}, headers=chris, timeout=30)
        assert r.status_code == 200, r.text
        assert impacted(one, "db-mes-prod") == {"mes-reports"}
