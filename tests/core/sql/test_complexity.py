"""The SQL check's code stays readable: no function in core/sql or sqlcheck above radon's grade C
(cyclomatic complexity 20). A rule that grows past it belongs split into smaller rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from radon import complexity as radon_complexity  # in the test extras

SRC = Path(__file__).resolve().parents[3] / "src" / "changegate"


@pytest.mark.parametrize("area", ["core/sql", "sqlcheck"])
def test_no_function_above_grade_c(area):
    too_complex = []
    for path in sorted((SRC / area).rglob("*.py")):
        for block in radon_complexity.cc_visit(path.read_text(encoding="utf-8")):
            if radon_complexity.cc_rank(block.complexity) > "C":
                too_complex.append(f"{path.relative_to(SRC)}:{block.lineno} {block.fullname} "
                                   f"({block.complexity})")
    assert too_complex == [], too_complex
