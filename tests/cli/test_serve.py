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


def serve_and_ping(tmp_path: Path, *options: str, then=None) -> str:
    """Start ``changegate serve`` with these options, send one ping through a "proxy", call ``then(base_url,
    output so far)`` if given, stop it; its output."""
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
            if then is not None:
                then(f"http://127.0.0.1:{port}", log.read_text())
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


def test_serve_demo_prints_a_sign_in_link_per_person_that_lets_them_in(tmp_path):
    """A newcomer's first look at the pages: ``serve --demo`` prints one-time set-password links (no default
    passwords); a printed link sets the IT manager's password, which then signs her in."""
    import re

    def sign_in_with_the_printed_link(base: str, output: str) -> None:
        link = re.search(r"^  ines\.itmgr +(http://\S+/set-password/\S+)$", output, re.M).group(1)
        assert link.startswith(base)
        assert not re.search(r"^  ci-pipeline +http", output, re.M)  # service accounts use tokens only
        with httpx.Client(base_url=base, timeout=10) as web:
            page = web.get(link)
            assert page.status_code == 200 and "ines.itmgr" in page.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            done = web.post(link, data={"csrf": csrf, "password": "correct horse battery", "repeat": "correct horse battery"})
            assert done.status_code == 303 and done.headers["location"] == "/sign-in"
            csrf = re.search(r'name="csrf" value="([^"]+)"', web.get("/sign-in").text).group(1)
            signed = web.post("/sign-in", data={"csrf": csrf, "person": "ines.itmgr", "password": "correct horse battery",
                                                "next": "/"}, follow_redirects=True)
            assert signed.status_code == 200 and "ines.itmgr" in signed.text and signed.url.path == "/"
            assert web.get(link).status_code == 404  # the link is spent

    output = serve_and_ping(tmp_path, "--demo", then=sign_in_with_the_printed_link)
    assert "web sign-in: each person sets a password with their one-time link" in output


def test_the_operators_guide_shows_serve_options_that_exist():
    from typer.testing import CliRunner

    from changegate.cli.main import app

    guide = (Path(__file__).resolve().parents[2] / "docs" / "operators-guide.md").read_text(encoding="utf-8")
    shown = {word for line in guide.splitlines() if line.startswith("$ changegate serve")
             for word in line.split() if word.startswith("--")}
    assert {"--access-log", "--forwarded-allow-ips"} <= shown
    help_text = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200).stdout
    assert all(option in help_text for option in shown | {"--no-proxy-headers"}), shown
