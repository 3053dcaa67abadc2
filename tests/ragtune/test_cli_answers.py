"""`ragtune answers ...` as an editor uses it: import the FAQ files, add one citing a document, see it stale
once the document changes, export, remove; bad input is a clear error."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli import app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no ragtune.yaml from the repository
    (tmp_path / "returns.md").write_text("# Returns\n\nUnused items can be returned within 30 days.")
    return tmp_path


def rows(runner: CliRunner, *args: str) -> list[dict]:
    listed = runner.invoke(app, ["answers", "list", "--json", *args])
    assert listed.exit_code == 0, listed.output
    return [json.loads(line) for line in listed.output.splitlines() if line.strip()]


def test_answers_commands_end_to_end(home):
    runner = CliRunner()
    faq = [str(REPO / "examples/knowledge/faq.jsonl"), str(REPO / "examples/knowledge/faq_zh.csv")]
    imported = runner.invoke(app, ["answers", "import", *faq, "--author", "support"])
    assert imported.exit_code == 0 and "49 curated answer(s) imported from 2 file(s)" in imported.output
    assert {r["language"] for r in rows(runner)} == {"en", "zh"}

    assert runner.invoke(app, ["kb", "add", str(home / "returns.md")]).exit_code == 0
    added = runner.invoke(
        app,
        [
            "answers",
            "add",
            "--question",
            "What is the return window?",
            "--answer",
            "30 days.",
            "--paraphrase",
            "How long can I return things?",
            "--source",
            "returns.md",
        ],
    )
    assert added.exit_code == 0, added.output
    answer_id = added.output.split()[-1]
    assert rows(runner, "--stale") == []

    (home / "returns.md").write_text("# Returns\n\nUnused items can be returned within 60 days.")
    assert runner.invoke(app, ["kb", "add", str(home / "returns.md")]).exit_code == 0
    [stale] = rows(runner, "--stale")
    assert stale["id"] == answer_id and stale["stale"] == ["returns.md was replaced"]
    table = runner.invoke(app, ["answers", "list", "--stale"])
    assert answer_id in table.output and "replaced" in table.output  # the table wraps to the terminal

    exported = runner.invoke(app, ["answers", "export", str(home / "out.jsonl")])
    assert exported.exit_code == 0 and "50 curated answer(s)" in exported.output
    lines = (home / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["paraphrases"] == ["How long can I return things?"]

    assert runner.invoke(app, ["answers", "remove", answer_id]).exit_code == 0
    assert len(rows(runner)) == 49


def test_bad_input_is_a_clear_error(home, capsys):
    runner = CliRunner()
    missing = runner.invoke(app, ["answers", "remove", "ans-nope"])
    assert missing.exit_code != 0 and "ans-nope" in str(missing.exception)
    page = runner.invoke(app, ["answers", "import", str(home / "returns.md")])
    assert page.exit_code != 0 and "FAQ files" in str(page.exception)
    unknown = runner.invoke(
        app, ["answers", "add", "--question", "Q?", "--answer", "A.", "--source", "nope.md"]
    )
    assert unknown.exit_code != 0 and "'nope.md'" in str(unknown.exception)


def test_review_lists_the_questions_that_went_wrong(home):
    from core.settings import FeedbackSettings, PiiSettings
    from feedback.records import ChatRecord
    from feedback.service import FeedbackService

    service = FeedbackService(FeedbackSettings(), PiiSettings(), home / "home").start()
    fallback = {"grounding": {"fallback": True}, "handoff": {"reason": "fallback"}}
    service.store.add_chats(
        [
            ChatRecord(
                response_id=f"r{i}",
                model="m",
                messages=[{"role": "user", "content": q}],
                answer="Sorry.",
                decisions=fallback,
            )
            for i, q in enumerate(["Do you sell gift wrap?", "Do you sell gift wraps?", "退款多久到账？"])
        ]
    )
    service.close()
    listed = CliRunner().invoke(app, ["review", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert [(r["count"], r["language"]) for r in rows] == [(2, "en"), (1, "zh")]
    assert rows[0]["reasons"] == {"fallback": 2}
