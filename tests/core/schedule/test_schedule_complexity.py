"""The schedule's code stays readable: no function in core/schedule, the schedule services or the CLI's
start-up and output above radon's grade C (the engine's ``next_slot`` and ``calendar_entries`` were D)."""

from __future__ import annotations

from pathlib import Path

import pytest
from radon import complexity as radon_complexity  # in the test extras

SRC = Path(__file__).resolve().parents[3] / "src" / "changegate"


@pytest.mark.parametrize("files", ["core/schedule/*.py", "services/schedule*.py", "services/policy*.py",
                                   "db/bare.py", "db/reads.py", "cli/output.py", "cli/main.py",
                                   "services/audit.py", "core/audit.py", "db/repositories/audit.py"])
def test_no_function_above_grade_c(files):
    too_complex = []
    for path in sorted(SRC.glob(files)):
        for block in radon_complexity.cc_visit(path.read_text(encoding="utf-8")):
            if radon_complexity.cc_rank(block.complexity) > "C":
                too_complex.append(f"{path.relative_to(SRC)}:{block.lineno} {block.fullname} ({block.complexity})")
    assert too_complex == [], too_complex
