"""The A/B report on synthetic traffic: both variants, intervals against the control, plain verdicts."""

import random

import pytest
from typer.testing import CliRunner

from evaluation.ab_report import build
from feedback.records import Feedback
from ragtune.cli import app
from tests.feedback.conftest import chat, feedback_service

SPEC = {
    "name": "tuned-vs-base",
    "model": "assistant",
    "variants": [{"name": "base"}, {"name": "tuned", "adapter": "support-v2"}],
}


@pytest.fixture
def home(tmp_path):
    """An experiment with 400 requests per variant: tuned is liked more and hands off less, same fallbacks."""
    rng = random.Random(3)
    service = feedback_service(tmp_path / "home").start()
    service.experiments.start(SPEC)
    rates = {"base": (0.60, 0.10), "tuned": (0.85, 0.02)}  # (thumbs up, hand-off)
    chats, votes = [], []
    for variant, (up, handoff) in rates.items():
        for i in range(400):
            response_id = f"{variant}-{i}"
            decisions = {
                "grounding": {"fallback": rng.random() < 0.2},
                "handoff": "agent" if rng.random() < handoff else None,
            }
            chats.append(
                chat(
                    response_id,
                    experiment="tuned-vs-base",
                    variant=variant,
                    decisions=decisions,
                    latency_s=rng.gauss(0.8 if variant == "base" else 0.9, 0.1),
                )
            )
            if i % 2 == 0:  # half the users rate
                votes.append(Feedback(response_id=response_id, rating="up" if rng.random() < up else "down"))
    service.store.add_chats(chats)
    for vote in votes:
        service.store.add_feedback(vote)
    service.close()
    return tmp_path / "home"


def test_report_says_which_differences_are_real(home):
    service = feedback_service(home).start()
    report = build(service.experiments.get("tuned-vs-base"), service.store.experiment_rows("tuned-vs-base"))
    service.close()
    assert report["counts"] == {
        "base": {"requests": 400, "rated": 200},
        "tuned": {"requests": 400, "rated": 200},
    }
    by_metric = {metric.key: interval for _, metric, interval in report["deltas"]}
    assert by_metric["thumbs_up_rate"].significant and by_metric["thumbs_up_rate"].low > 0
    assert by_metric["handoff_rate"].significant and by_metric["handoff_rate"].high < 0
    assert not by_metric["fallback_rate"].significant
    verdicts = " ".join(report["verdicts"])
    assert "Thumbs-up rate: tuned +" in verdicts and "tuned is better" in verdicts
    assert "Fallback rate: tuned " in verdicts and "no real difference yet" in verdicts
    assert "Latency (s): tuned +0.1" in verdicts and "tuned is worse" in verdicts


def test_cli_writes_markdown_html_and_charts(home, tmp_path, monkeypatch):
    monkeypatch.setenv("RAGTUNE_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["ab", "report", "tuned-vs-base", "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| requests | 400 | 400 |" in markdown
    assert "## Differences to base with 95% bootstrap intervals" in markdown
    thumbs = next(line for line in markdown.splitlines() if line.startswith("| Thumbs-up rate | +"))
    assert thumbs.count("[") == 1 and thumbs.endswith("* |")  # an interval that excludes zero
    html = (tmp_path / "report" / "report.html").read_text()
    assert "<title>ragtune A/B experiment tuned-vs-base</title>" in html and "<table>" in html
    charts = sorted(p.name for p in (tmp_path / "report" / "charts").glob("*.png"))
    assert charts == ["fallback_rate.png", "handoff_rate.png", "latency_s.png", "thumbs_up_rate.png"]
    assert "tuned is better" in result.output

    missing = CliRunner().invoke(app, ["ab", "report", "nope", "--out", str(tmp_path / "x")])
    assert missing.exit_code != 0 and "no experiment 'nope'" in str(missing.exception)
