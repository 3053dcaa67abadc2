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
        return Interval(mean=float("nan"), low=float("nan"), high=float("nan"), n=0)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, diff.size, size=(samples, diff.size))
    means = diff[picks].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(mean=float(diff.mean()), low=float(low), high=float(high), n=int(diff.size))


def mean_interval(
    values: list[float], samples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> Interval:
    """Mean of one combination's values (a share, for 0/1 values) with a percentile interval from
    resampling the questions (seeded): how sure the level itself is, not a difference."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return Interval(mean=float("nan"), low=float("nan"), high=float("nan"), n=0)
    means = _resampled_means(x, samples, np.random.default_rng(seed))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(mean=float(x.mean()), low=float(low), high=float(high), n=int(x.size))


def independent_bootstrap(
    a: list[float], b: list[float], samples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> Interval:
    """Mean of b minus mean of a for two independent groups (A/B variants: different users), with a
    percentile interval from resampling each group on its own (seeded); n is the smaller group."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.size == 0 or xb.size == 0:
        return Interval(mean=float("nan"), low=float("nan"), high=float("nan"), n=0)
    rng = np.random.default_rng(seed)
    means = _resampled_means(xb, samples, rng) - _resampled_means(xa, samples, rng)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(
        mean=float(xb.mean() - xa.mean()), low=float(low), high=float(high), n=int(min(xa.size, xb.size))
    )


def _resampled_means(values: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `samples` resamples with replacement, in blocks of about 2M draws (bounded memory)."""
    block = max(1, 2_000_000 // values.size)
    return np.concatenate([
        values[rng.integers(0, values.size, size=(min(block, samples - start), values.size))].mean(axis=1)
        for start in range(0, samples, block)
    ])
