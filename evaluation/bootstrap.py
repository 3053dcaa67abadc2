"""Paired bootstrap confidence intervals for the difference between two combinations on the same questions."""

from dataclasses import dataclass

import numpy as np

MIN_PAIRS = 3  # below this a resampled interval is degenerate: never called significant


@dataclass
class Interval:
    mean: float
    low: float
    high: float
    n: int

    @property
    def significant(self) -> bool:
        """The interval excludes zero, over enough questions for an interval to mean something."""
        return self.n >= MIN_PAIRS and (self.low > 0 or self.high < 0)


def paired_bootstrap(
    a: list[float], b: list[float], samples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> Interval:
    """Mean of b - a over paired values, with a percentile interval from resampling questions (seeded)."""
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if diff.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, diff.size, size=(samples, diff.size))
    means = diff[picks].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(diff.mean()), float(low), float(high), int(diff.size))
