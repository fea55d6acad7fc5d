"""The performance decision: medians, the threshold in the worse direction, the noise floor and guard."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from changegate.core.runs.decide import decide
from changegate.core.runs.plan import Worse

BASE = [0.200, 0.201, 0.199, 0.202, 0.200]


def test_thirty_percent_slower_is_a_regression_and_ten_percent_is_not():
    slow = decide(BASE, [x * 1.3 for x in BASE], worse=Worse.HIGHER, threshold=0.2)
    assert not slow.passed and slow.message.startswith("regression: median 0.2 -> 0.26 (+30.0%")
    assert decide(BASE, [x * 1.1 for x in BASE], worse=Worse.HIGHER, threshold=0.2).passed


def test_throughput_down_is_worse_and_up_is_not():
    assert not decide([100.0] * 5, [70.0] * 5, worse=Worse.LOWER, threshold=0.2).passed
    assert decide([100.0] * 5, [170.0] * 5, worse=Worse.LOWER, threshold=0.2).passed


def test_one_outlier_does_not_move_the_median():
    assert decide(BASE, [0.2, 0.2, 5.0, 0.2, 0.2], worse=Worse.HIGHER, threshold=0.2).passed


def test_a_change_under_the_noise_floor_is_not_a_regression():
    tiny = [0.002] * 5
    assert not decide(tiny, [0.003] * 5, worse=Worse.HIGHER, threshold=0.2).passed
    assert decide(tiny, [0.003] * 5, worse=Worse.HIGHER, threshold=0.2, min_change=0.005).passed


def test_a_baseline_that_scatters_more_than_the_threshold_is_undecidable():
    verdict = decide([0.1, 0.2, 0.3, 0.4, 0.5], [0.3] * 5, worse=Worse.HIGHER, threshold=0.2)
    assert not verdict.passed and verdict.message.startswith("undecidable: the baseline scatters")


def test_fewer_than_five_samples_cannot_decide():
    with pytest.raises(ValueError, match="at least 5 samples"):
        decide(BASE[:4], BASE, worse=Worse.HIGHER, threshold=0.2)


@given(st.lists(st.floats(min_value=0.01, max_value=10), min_size=5, max_size=30))
def test_the_same_samples_on_both_sides_never_fail_unless_undecidable(samples):
    verdict = decide(samples, list(samples), worse=Worse.HIGHER, threshold=0.2)
    assert verdict.passed or verdict.message.startswith("undecidable")


def test_a_zero_baseline_regresses_on_any_rise_and_its_record_is_valid_json():
    import json

    verdict = decide([0.0] * 5, [0.3] * 5, worse=Worse.HIGHER, threshold=0.2)
    assert not verdict.passed and "(from zero, worse is up)" in verdict.message
    assert json.loads(json.dumps(verdict.to_dict(), allow_nan=False))["change"] is None
