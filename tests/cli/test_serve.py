"""``changegate serve``'s operator options (issue 12), through a real server process on a temporary SQLite file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from changegate.settings import DEFAULT_POLICY

CHANGEGATE = Path(sys.executable).with_name("changegate")
PROXIED = {"X-Forwarded-For": "203.0.113.7"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_and_ping(tmp_path: Path, *options: str) -> str:
    """Start ``changegate serve`` with these options, send one ping through a "proxy", stop it; its output."""
    port = free_port()
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
           "CHANGEGATE_POLICY": str(DEFAULT_POLICY)}
    env.pop("FORWARDED_ALLOW_IPS", None)
    log = tmp_path / f"serve-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(CHANGEGATE), "serve", "--port", str(port), *options], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/ping", headers=PROXIED, timeout=2)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
            assert r.status_code == 200
            time.sleep(0.3)  # the access line is written after the response
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
    return log.read_text()


def test_access_log_is_off_by_default(tmp_path):
    output = serve_and_ping(tmp_path)
    assert "changegate" in output and "/api/v1/ping" not in output


def test_access_log_shows_the_client_a_trusted_proxy_names(tmp_path):
    output = serve_and_ping(tmp_path, "--access-log", "--forwarded-allow-ips", "127.0.0.1")
    line = next(line for line in output.splitlines() if "GET /api/v1/ping" in line)
    assert "203.0.113.7" in line and "200" in line
    assert "Uvicorn running" not in output  # the access log adds request lines, not start-up chatter


@pytest.mark.parametrize("options", [["--no-proxy-headers"], ["--forwarded-allow-ips", "192.0.2.1"]])
def test_forwarded_headers_are_ignored_unless_trusted(tmp_path, options):
    output = serve_and_ping(tmp_path, "--access-log", *options)
    line = next(line for line in output.splitlines() if "GET /api/v1/ping" in line)
    assert "127.0.0.1" in line and "203.0.113.7" not in line


def test_the_operators_guide_shows_serve_options_that_exist():
    from typer.testing import CliRunner

    from changegate.cli.main import app

    guide = (Path(__file__).resolve().parents[2] / "docs" / "operators-guide.md").read_text(encoding="utf-8")
    shown = {word for line in guide.splitlines() if line.startswith("$ changegate serve")
             for word in line.split() if word.startswith("--")}
    assert {"--access-log", "--forwarded-allow-ips"} <= shown
    help_text = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200).stdout
    assert all(option in help_text for option in shown | {"--no-proxy-headers"}), shown
