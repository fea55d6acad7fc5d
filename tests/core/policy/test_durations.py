"""Human durations: '30m', '2h', '1h30m', '1d', '90' (bare minutes) and back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changegate.core.policy.durations import format_minutes, parse_duration, parse_minutes


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("30m", 30),
        ("2h", 120),
        ("1h30m", 90),
        ("1d", 1440),
        ("2d3h4m", 2 * 1440 + 3 * 60 + 4),
        ("1d 2h 3m", 1440 + 120 + 3),  # spaces between parts
        ("1h 30m", 90),
        ("30m1h", 90),  # order of parts does not matter
        ("1H30M", 90),  # case-insensitive
        ("  2h  ", 120),  # surrounding blanks
        ("90", 90),  # a bare number is minutes
        ("0", 0),
        ("0m", 0),
        (90, 90),
        (0, 0),
    ],
)
def test_parse_minutes_accepts(text, minutes):
    assert parse_minutes(text) == minutes


def test_parse_duration_is_a_timedelta_of_the_same_minutes():
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration(15) == timedelta(minutes=15)


@pytest.mark.parametrize(
    "text",
    # "²" and "٣" pass str.isdigit() / regex \d but are not numbers a policy file should hold.
    ["", "   ", "h", "2x", "1.5h", "1 hour", "m30", "-5", "-5m", "2h-1m", "1h30", "PT1H", "²", "٣", "٣h"],
)
def test_parse_minutes_refuses_text_that_is_not_a_duration_with_a_sentence_naming_it(text):
    with pytest.raises(ValueError) as exc:
        parse_minutes(text)
    # The sentence names the input and shows the accepted shape, whatever the input was.
    assert str(exc.value) == f"{text!r} is not a duration (write e.g. 30m, 2h, 1h30m, 2d)"


@pytest.mark.parametrize("value", [True, False, 1.5, None, [30]])
def test_parse_minutes_refuses_booleans_and_other_non_text_values(value):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_minutes(value)


@pytest.mark.parametrize("value", [-1, -90])
def test_parse_minutes_refuses_negative_numbers(value):
    with pytest.raises(ValueError, match=f"^{value} is negative$"):
        parse_minutes(value)


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (0, "0m"),
        (1, "1m"),
        (59, "59m"),
        (60, "1h"),
        (90, "1h30m"),
        (1439, "23h59m"),
        (1440, "1d"),
        (1441, "1d1m"),
        (1500, "1d1h"),
        (2 * 1440 + 3 * 60 + 4, "2d3h4m"),
    ],
)
def test_format_minutes(minutes, text):
    assert format_minutes(minutes) == text


@given(st.integers(min_value=0, max_value=10**8))
def test_format_then_parse_round_trips(minutes):
    assert parse_minutes(format_minutes(minutes)) == minutes


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000))
def test_parts_add_up_and_format_is_canonical(d, h, m):
    """Un-normalised input ('0d25h70m') parses to the sum and formats to the canonical spelling."""
    minutes = parse_minutes(f"{d}d{h}h{m}m")
    assert minutes == d * 1440 + h * 60 + m
    canonical = format_minutes(minutes)
    assert format_minutes(parse_minutes(canonical)) == canonical


@given(st.text(alphabet="0123456789dhmDHM .-:x\t", max_size=12))
def test_any_text_either_parses_to_a_non_negative_int_or_is_refused_with_a_sentence(text):
    try:
        minutes = parse_minutes(text)
    except ValueError as exc:
        assert repr(text) in str(exc)
    else:
        assert isinstance(minutes, int) and minutes >= 0
