"""Durations in seconds and percentages, as written in plan files and the policy's ``deploy:`` section."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|[smhd])")
_WHOLE = re.compile(r"^\s*(?:[0-9]+(?:\.[0-9]+)?\s*(?:ms|[smhd])\s*)+$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


def parse_seconds(value: object) -> float:
    """Seconds in '90s', '15m', '1h30m', '250ms'. A bare number is refused: minutes or seconds would be a
    guess, and a plan that waits 15 seconds instead of 15 minutes checks too early."""
    if isinstance(value, str) and _WHOLE.match(value.lower()):
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(value.lower()))
    raise ValueError(f"{value!r} is not a duration with a unit (write e.g. 30s, 15m, 1h30m, 250ms)")


def parse_fraction(value: object) -> float:
    """'20%' -> 0.2. A bare number is refused for the same reason as durations (0.2 or 20?)."""
    match = _PERCENT.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a percentage (write e.g. 20%)")
    fraction = float(match.group(1)) / 100
    if not 0 < fraction <= 10:
        raise ValueError(f"{value!r} must be above 0% and at most 1000%")
    return fraction


# Fields holding a duration or a percentage: only the written forms are accepted (a plan is re-read
# from its text, never from a dump of the model).
Seconds = Annotated[float, BeforeValidator(parse_seconds)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]
