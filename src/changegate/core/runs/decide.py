"""The performance decision: a pure function over the baseline samples and the samples at the check.

How it decides (docs/runner.md, "How a performance check decides"):

1. Each side is summarised by its **median**: one slow outlier (a GC pause, a cold cache) moves a mean
   but not a median of five or more samples.
2. The **change** is ``(after - before) / before``, signed so that positive is worse (up for ``worse:
   higher``, down for ``worse: lower``).
3. It is a **regression** when the change is worse than the threshold (policy default 20%) **and** the
   absolute difference of the medians is at least ``min_change`` (a noise floor in the metric's unit:
   2 ms to 2.5 ms is +25% but no regression anybody would roll back for).
4. **Noise guard:** when the baseline itself scatters more than the threshold (its interquartile range
   over its median), a difference of that size cannot be told from noise: the check fails as
   "undecidable" rather than passing. More samples or a steadier metric fix it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median, quantiles

from .plan import Worse

MIN_SAMPLES = 5


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    before: float  # median of the baseline
    after: float  # median at the check
    change: float  # relative, positive = worse
    message: str

    def to_dict(self) -> dict:
        """JSON-safe: a change from a zero baseline is infinite, which JSON (and PostgreSQL's json) cannot hold."""
        change = self.change if math.isfinite(self.change) else None
        return {"passed": self.passed, "before": self.before, "after": self.after, "change": change,
                "message": self.message}


def spread(samples: list[float]) -> float:
    """Interquartile range over the median (0 for a constant series)."""
    mid = median(samples)
    if mid == 0:
        return 0.0
    q1, _, q3 = quantiles(samples, n=4, method="inclusive")
    return abs(q3 - q1) / abs(mid)


def decide(before: list[float], after: list[float], *, worse: Worse, threshold: float,
           min_change: float = 0.0) -> Verdict:
    if len(before) < MIN_SAMPLES or len(after) < MIN_SAMPLES:
        raise ValueError(f"a performance decision needs at least {MIN_SAMPLES} samples on each side "
                         f"(got {len(before)} before, {len(after)} after)")
    b, a = median(before), median(after)
    if b == 0:
        change = 0.0 if a == 0 else float("inf")
    else:
        change = (a - b) / abs(b)
    if worse is Worse.LOWER:
        change = -change
    direction = "up" if worse is Worse.HIGHER else "down"
    pct = f"{change * 100:+.1f}%" if math.isfinite(change) else "from zero"
    noise = spread(before)
    if noise > threshold:
        return Verdict(False, b, a, change, f"undecidable: the baseline scatters {noise * 100:.0f}% (interquartile "
                       f"range over median), more than the {threshold * 100:.0f}% threshold")
    if change > threshold and abs(a - b) >= min_change:
        return Verdict(False, b, a, change, f"regression: median {_num(b)} -> {_num(a)} ({pct}, worse is "
                       f"{direction}), over the {threshold * 100:.0f}% threshold")
    return Verdict(True, b, a, change, f"within threshold: median {_num(b)} -> {_num(a)} ({pct}, threshold "
                   f"{threshold * 100:.0f}%)")


def _num(x: float) -> str:
    return f"{x:.4g}"
