"""The general-ability verdict: an adapter falls behind only where an interval is wholly on the wrong side."""

from evaluation.report import general_verdicts


def delta(metric: str, value: float, low: float, high: float) -> dict:
    return {"a": "base", "b": "demo", "metric": metric, "delta": value, "low": low, "high": high, "n": 10,
            "significant": low > 0 or high < 0}


def test_a_significant_drop_in_quality_is_called_out():
    deltas = [delta("rouge_l", -0.2, -0.3, -0.1), delta("chrf", -3.0, -8.0, 1.0), delta("latency_s", 0.5, 0.1, 0.9)]
    assert general_verdicts(deltas) == ["demo falls behind base on ROUGE-L"]


def test_noise_and_gains_hold_up():
    deltas = [delta("rouge_l", -0.02, -0.1, 0.05), delta("chrf", 4.0, 1.0, 7.0)]
    assert general_verdicts(deltas) == ["demo holds up against base: no significant drop in general ability"]
