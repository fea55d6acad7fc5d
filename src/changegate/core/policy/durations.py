"""Human durations in policy files and on the command line: '30m', '2h', '1h30m', '1d', '90'."""

from __future__ import annotations

import re
from datetime import timedelta

# ASCII digits only: str.isdigit() and \d also accept "²" or "٣", which int() then refuses.
_PART = re.compile(r"([0-9]+)\s*([dhm])")
_WHOLE = re.compile(r"^\s*(?:[0-9]+\s*[dhm]\s*)+$")
_NUMBER = re.compile(r"^[0-9]+$")
_UNIT_MINUTES = {"d": 1440, "h": 60, "m": 1}


def parse_minutes(text: str | int) -> int:
    """Minutes in a duration; a bare number is minutes. Raises ValueError with a sentence."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"{text!r} is not a duration (write e.g. 30m, 2h, 1h30m, 2d)")
    if isinstance(text, int):
        minutes = text
    else:
        s = str(text).strip().lower()
        if _NUMBER.match(s):
            minutes = int(s)
        elif _WHOLE.match(s):
            minutes = sum(int(n) * _UNIT_MINUTES[u] for n, u in _PART.findall(s))
        else:
            raise ValueError(f"{text!r} is not a duration (write e.g. 30m, 2h, 1h30m, 2d)")
    if minutes < 0:
        raise ValueError(f"{text!r} is negative")
    return minutes


def parse_duration(text: str | int) -> timedelta:
    return timedelta(minutes=parse_minutes(text))


def format_minutes(minutes: int) -> str:
    if minutes < 0:
        raise ValueError(f"{minutes} is negative")
    d, rest = divmod(minutes, 1440)
    h, m = divmod(rest, 60)
    out = (f"{d}d" if d else "") + (f"{h}h" if h else "") + (f"{m}m" if m else "")
    return out or "0m"


def _minutes_of(value: object) -> int:
    return parse_minutes(value)  # type: ignore[arg-type]


def __getattr__(name: str):
    # A policy field holding a duration: accepts "90m", "1h30m", 90; stores minutes. Built on first use, so
    # that the schedule engine (which formats durations) loads without pydantic (issue 13).
    if name == "DurationMinutes":
        from typing import Annotated

        from pydantic import BeforeValidator

        globals()[name] = Annotated[int, BeforeValidator(_minutes_of)]
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
