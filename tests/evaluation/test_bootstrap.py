"""The paired bootstrap interval covers the true delta on synthetic data and does not sell noise as a win."""

import numpy as np

from evaluation.bootstrap import paired_bootstrap


def synthetic(seed: int, true_delta: float, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.2, 0.8, n)  # per-question difficulty shared by both combinations (paired)
    b = a + true_delta + rng.normal(0, 0.1, n)
    return a, b


def test_interval_covers_the_true_delta_and_excludes_zero():
    a, b = synthetic(seed=1, true_delta=0.1)
    interval = paired_bootstrap(a, b, samples=2000, seed=0)
    assert interval.low < 0.1 < interval.high
    assert interval.significant and interval.n == 60


def test_no_real_difference_is_not_significant():
    a, b = synthetic(seed=2, true_delta=0.0)
    interval = paired_bootstrap(a, b, samples=2000, seed=0)
    assert interval.low < 0 < interval.high and not interval.significant


def test_coverage_is_close_to_95_percent():
    covered = 0
    for seed in range(200):
        a, b = synthetic(seed, true_delta=0.05, n=40)
        interval = paired_bootstrap(a, b, samples=500, seed=seed)
        covered += interval.low <= 0.05 <= interval.high
    assert 0.88 <= covered / 200 <= 0.99


def test_same_seed_same_interval():
    a, b = synthetic(seed=3, true_delta=0.02)
    assert paired_bootstrap(a, b, seed=7) == paired_bootstrap(a, b, seed=7)
