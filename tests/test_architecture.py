"""House rule 1: dependencies point inward. The import-linter contracts live in pyproject.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(LINT, cwd=root, capture_output=True, text=True, env=env)


def test_import_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_contracts_catch_a_violation(tmp_path):
    """The check can fail: in a copy of the package, a core module importing sqlalchemy is reported."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src" / "changegate", tmp_path / "src" / "changegate",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "src" / "changegate" / "core" / "probe.py").write_text("import sqlalchemy\n")
    (tmp_path / "src" / "changegate" / "services" / "probe.py").write_text("import changegate.api.app\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "changegate.core.probe -> sqlalchemy" in result.stdout
    assert "changegate.services.probe -> changegate.api.app" in result.stdout
