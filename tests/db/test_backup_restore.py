"""The operators' guide's backup commands, run for real against a live server's database: the
restored copy passes `changegate audit verify` (chain and records)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from changegate.services.demo import load_demo

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "operators-guide.md").read_text(encoding="utf-8")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PYTHON_BACKUP = 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))'


def changegate(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": url}
    for var in ("CHANGEGATE_URL", "CHANGEGATE_TOKEN"):
        env.pop(var, None)
    return subprocess.run([sys.executable, "-m", "changegate.cli.main", *args], capture_output=True, text=True,
                          env=env)


def test_the_guide_shows_these_commands():
    assert '$ sqlite3 /var/lib/changegate/changegate.db ".backup /backup/changegate-2026-12-01.db"' in GUIDE
    assert f'$ python3 -c "{PYTHON_BACKUP}"' in GUIDE
    assert "$ pg_dump --format=custom --file=" in GUIDE and "$ pg_restore --no-owner --dbname=" in GUIDE


def live(runtime, as_) -> str:
    """The demo, plus a write through the running server; returns the anchor taken before the backup."""
    load_demo(runtime)
    as_("dana.dev").post("/changes/CHG-5/comments", json={"body": "backup rehearsal"}).raise_for_status()
    return as_("audrey.audit").get("/audit/head").json()["anchor"]


def restored_verifies(url: str, anchor: str) -> None:
    result = changegate(url, "audit", "verify", "--anchor", anchor)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 13 change records agree with their events" in result.stdout


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_online_sqlite_backup_restores_and_verifies(runtime, as_, tmp_path):
    anchor = live(runtime, as_)
    db = make_url(runtime.settings.database_url).database
    if shutil.which("sqlite3"):
        shell_copy = tmp_path / "shell-backup.db"
        subprocess.run(["sqlite3", db, f".backup {shell_copy}"], check=True)
        restored_verifies(f"sqlite:///{shell_copy}", anchor)
    python_copy = tmp_path / "python-backup.db"
    subprocess.run([sys.executable, "-c", PYTHON_BACKUP, db, str(python_copy)], check=True)
    restored_verifies(f"sqlite:///{python_copy}", anchor)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_pg_dump_restores_into_a_new_database_and_verifies(runtime, as_, tmp_path):
    if not (PG_BIN / "pg_dump").exists():
        pytest.skip("PostgreSQL 15 client binaries are not installed")
    anchor = live(runtime, as_)
    url = make_url(runtime.settings.database_url)
    libpq = lambda u: u.set(drivername="postgresql").render_as_string(hide_password=False)  # noqa: E731
    dump = tmp_path / "changegate.dump"
    subprocess.run([PG_BIN / "pg_dump", "--format=custom", f"--file={dump}", libpq(url)], check=True)
    restored = url.set(database=f"{url.database}_restored")
    subprocess.run([PG_BIN / "createdb", f"--maintenance-db={libpq(url)}", restored.database], check=True)
    subprocess.run([PG_BIN / "pg_restore", "--no-owner", f"--dbname={libpq(restored)}", dump], check=True)
    restored_verifies(restored.render_as_string(hide_password=False), anchor)
