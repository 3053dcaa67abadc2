"""A small run end to end against a scripted OpenAI-shaped server: every combination is asked the questions
and the conversations, scored (key facts, overlap, retrieval, refusals; zh and en apart), compared with
intervals, and reported (Markdown, HTML, one chart per metric, ratings CSV) with the decoding served."""

import csv
import json
import shutil

import pytest
from rich.console import Console
from typer.testing import CliRunner

from core.errors import RagtuneError
from core.settings import Settings
from evaluation.ratings import import_ratings
from evaluation.report import write_report
from ragtune.cli_eval import eval_app
from tests.evaluation.conftest import CONVERSATIONS, DECODING, REQUESTS, evaluate_with

LABELS = ["base", "base+RAG", "demo", "demo+RAG"]


def judged_settings(tmp_path, fake_server) -> Settings:
    return Settings(home=tmp_path / "home", evaluation={"judge_base_url": fake_server, "judge_model": "judge",
                                                        "bootstrap_samples": 500})


@pytest.fixture(scope="module")
def report_dir(fake_server, question_files, conversation_file, tmp_path_factory):
    """One evaluation of base and demo, RAG on and off, conversations, general check and judge; the printed
    output kept."""
    tmp = tmp_path_factory.mktemp("eval")
    console = Console(record=True, width=250)
    questions, general = question_files
    evaluate_with(judged_settings(tmp, fake_server), questions, ["base", "demo"], [True, False], tmp / "report",
                  server=fake_server, judge=True, general_path=general, conversations_path=conversation_file,
                  console=console)
    (tmp / "printed.txt").write_text(console.export_text())
    return tmp / "report"


def summary(report_dir) -> dict:
    return json.loads((report_dir / "summary.json").read_text())


def test_report_files_are_written(report_dir):
    for name in ("report.md", "report.html", "ratings.csv", "results.jsonl", "summary.json"):
        assert (report_dir / name).stat().st_size > 0
    charts = {p.stem for p in (report_dir / "charts").glob("*.png")}
    assert {"rouge_l", "chrf", "recall_at_k", "mrr", "groundedness", "citation_correctness", "refusal_accuracy",
            "answer_length", "latency_s", "tokens_per_s", "judge_correctness"} <= charts
    html = (report_dir / "report.html").read_text()
    assert "<table>" in html and 'src="charts/rouge_l.png"' in html


def test_every_combination_is_printed_and_summarised(report_dir):
    printed = (report_dir.parent / "printed.txt").read_text()
    for label in LABELS:
        assert label in printed
    assert list(summary(report_dir)["summary"]) == LABELS
    ended_at_limit = {label: row["hit_max_tokens"] for label, row in summary(report_dir)["summary"].items()}
    assert ended_at_limit == {"base": 0.0, "base+RAG": 0.0, "demo": 1.0, "demo+RAG": 0.0}
    assert "Ended at max_tokens" in printed
    assert len([r for r in results(report_dir) if r["set"] == "heldout"]) == 4 * 4


def test_metrics_tell_the_combinations_apart(report_dir):
    table = summary(report_dir)["summary"]
    tuned, base = table["demo+RAG"], table["base+RAG"]
    assert tuned["rouge_l"] > 0.5 > base["rouge_l"]
    assert tuned["recall_at_k"] == base["recall_at_k"] == 1.0  # same retrieval for both models
    assert tuned["citation_correctness"] == 1.0 and tuned["groundedness"] > 0.5
    assert tuned["refusal_accuracy"] == 1.0 and base["refusal_accuracy"] == 0.0
    assert table["demo"]["false_refusal"] == 1.0
    assert table["base"]["recall_at_k"] is None  # no retrieval without RAG
    assert tuned["judge_correctness"] > base["judge_correctness"]


def results(report_dir) -> list[dict]:
    return [json.loads(line) for line in (report_dir / "results.jsonl").read_text().splitlines()]


def test_key_fact_accuracy_counts_answers_that_state_every_fact(report_dir):
    table = summary(report_dir)["summary"]
    # demo+RAG quotes the documents: "30 days", "two year" (fact: "2 years"), "三个工作日" ("3 个工作日")
    assert table["demo+RAG"]["key_fact_accuracy"] == 1.0
    assert table["base+RAG"]["key_fact_accuracy"] == table["demo"]["key_fact_accuracy"] == 0.0
    heldout = [r for r in results(report_dir) if r["set"] == "heldout"]
    returns = next(r for r in heldout if r["combination"] == "base+RAG" and r["key_facts"] == ["30 days"])
    assert returns["missing_facts"] == ["30 days"]
    unanswerable = [r for r in results(report_dir) if not r["answerable"]]
    assert unanswerable and all(r["key_fact_accuracy"] is None for r in unanswerable)
    delta = next(d for d in summary(report_dir)["deltas"]
                 if (d["a"], d["b"], d["metric"]) == ("base+RAG", "demo+RAG", "key_fact_accuracy"))
    assert delta["delta"] == 1.0 and delta["n"] == 3 and delta["significant"]
    text = (report_dir / "report.md").read_text()
    assert "| Key-fact accuracy |" in text and "| key facts missing | 30 days | none |" in text


def test_english_and_chinese_are_reported_apart(report_dir):
    by_language = summary(report_dir)["by_language"]
    assert (by_language["en"]["questions"], by_language["zh"]["questions"]) == (3, 1)
    en, zh = by_language["en"]["combinations"], by_language["zh"]["combinations"]
    assert en["demo+RAG"]["key_fact_accuracy"] == zh["demo+RAG"]["key_fact_accuracy"] == 1.0
    assert (en["demo+RAG"]["key_fact_questions"], zh["demo+RAG"]["key_fact_questions"]) == (2, 1)
    assert en["demo+RAG"]["key_fact_interval"] == [1.0, 1.0] and en["base"]["key_fact_interval"] == [0.0, 0.0]
    assert en["demo+RAG"]["refusal_accuracy"] == 1.0 and zh["demo+RAG"]["refusal_accuracy"] is None
    assert zh["demo+RAG"]["chrf"] > zh["base+RAG"]["chrf"]
    text = (report_dir / "report.md").read_text()
    assert "English and Chinese apart (questions: 1 Chinese, 3 English)" in text
    assert "| Key-fact accuracy | zh (1) | 0.00 [0.00, 0.00] (n=1) | 0.00 [0.00, 0.00] (n=1) |" in text
    assert "English and Chinese apart" in (report_dir.parent / "printed.txt").read_text()


def test_conversations_are_sent_whole_and_scored_on_the_final_turn(report_dir):
    result = summary(report_dir)
    conversations = result["conversation_summary"]
    assert list(conversations) == LABELS
    assert conversations["demo+RAG"]["key_fact_accuracy"] == 1.0
    assert conversations["demo+RAG"]["recall_at_k"] == 1.0
    assert conversations["base+RAG"]["key_fact_accuracy"] == 0.0
    assert set(result["conversation_by_language"]) == {"en", "zh"}
    rows = [r for r in results(report_dir) if r["set"] == "conversation"]
    assert len(rows) == 2 * 4 and {r["question"] for r in rows} == {"How many days do I have?", "要多久？"}
    sent = [b["messages"] for b in REQUESTS if b["messages"][-1]["content"] == "How many days do I have?"]
    assert len(sent) == 4 and all(messages == CONVERSATIONS[0]["messages"] for messages in sent)
    text = (report_dir / "report.md").read_text()
    assert "## Conversations (held-out, scored on the final turn)" in text
    assert "conversations: 1 Chinese, 1 English" in text
    assert "conversations (final turn)" in (report_dir.parent / "printed.txt").read_text()


def test_no_decoding_is_sent_and_the_report_names_the_served_one(report_dir):
    answered = [b for b in REQUESTS if not b["messages"][0]["content"].startswith("You grade")]
    assert answered
    decoding = {"temperature", "top_p", "frequency_penalty", "presence_penalty"}
    assert not [b for b in answered if decoding & set(b)]
    assert summary(report_dir)["decoding"] == {"base": DECODING, "demo": DECODING}
    served = "temperature 0.0, top_p 1.0, frequency_penalty 0.5, presence_penalty 0.0, repetition_penalty 1.0"
    text = (report_dir / "report.md").read_text()
    assert f"- base: {served}" in text and f"- demo: {served}" in text
    assert f"- demo: {served}" in (report_dir.parent / "printed.txt").read_text()


def test_a_server_that_lists_no_decoding_is_named_in_the_report(report_dir, tmp_path):
    folder = tmp_path / "report"
    shutil.copytree(report_dir, folder)
    run = json.loads((folder / "run.json").read_text())
    run["decoding"] = {"base": None, "demo": None}
    (folder / "run.json").write_text(json.dumps(run))
    write_report(folder)
    assert "- demo: not listed by the server" in (folder / "report.md").read_text()


def test_deltas_carry_intervals_and_significance(report_dir):
    deltas = summary(report_dir)["deltas"]
    rouge = next(d for d in deltas if (d["a"], d["b"], d["metric"]) == ("base+RAG", "demo+RAG", "rouge_l"))
    assert rouge["delta"] > 0 and rouge["low"] > 0 and rouge["significant"] and rouge["n"] == 4
    recall = next(d for d in deltas if (d["a"], d["b"], d["metric"]) == ("base+RAG", "demo+RAG", "recall_at_k"))
    assert recall["delta"] == 0 and not recall["significant"]


def test_general_ability_delta_is_reported(report_dir):
    result = summary(report_dir)
    assert list(result["general_summary"]) == ["base", "demo"]
    delta = next(d for d in result["general_deltas"] if d["metric"] == "rouge_l")
    assert (delta["a"], delta["b"], delta["delta"]) == ("base", "demo", 0.0)
    text = (report_dir / "report.md").read_text()
    assert "General ability" in text and "demo holds up against base" in text


def test_side_by_side_shows_the_most_different_answers_with_citations(report_dir):
    text = (report_dir / "report.md").read_text()
    section = text.split("## Where base+RAG and demo+RAG differ most")[1]
    assert "Northwind Gadgets accepts returns within 30 days" in section
    assert "/srv/examples/knowledge/returns.md" in section


def test_human_ratings_fold_back_into_the_report(report_dir, tmp_path):
    folder = tmp_path / "report"
    shutil.copytree(report_dir, folder)
    with (folder / "ratings.csv").open(newline="") as f:
        records = list(csv.DictReader(f))
    assert len(records) == 16 and "combination" not in records[0]  # blind: the rater does not see who wrote it
    for record in records:  # the rater likes answers that cite their source
        record["rating"] = "5" if "[1]" in record["answer"] else "2"
    with (folder / "ratings.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    result = CliRunner().invoke(eval_app, ["import-ratings", str(folder / "ratings.csv"), "--report", str(folder)])
    assert result.exit_code == 0, result.output
    table = summary(folder)["summary"]
    # demo+RAG cites on the 3 answerable questions and refuses the 4th: (5 + 5 + 5 + 2) / 4
    assert table["demo+RAG"]["human_rating"] == 4.25 and table["base"]["human_rating"] == 2.0
    assert "Human rating" in (folder / "report.md").read_text()


def test_a_bad_rating_names_the_line_and_changes_nothing(report_dir, tmp_path):
    folder = tmp_path / "report"
    shutil.copytree(report_dir, folder)
    lines = (folder / "ratings.csv").read_text().splitlines()
    lines[2] = lines[2][: lines[2].rindex(",,")] + ",nine,"
    (folder / "ratings.csv").write_text("\n".join(lines) + "\n")
    before = (folder / "results.jsonl").read_text()
    with pytest.raises(RagtuneError, match=r"ratings.csv:3: rating must be a number from 1 to 5"):
        import_ratings(folder / "ratings.csv", folder)
    assert (folder / "results.jsonl").read_text() == before


def test_cli_runs_against_a_running_server(
    fake_server, question_files, conversation_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGTUNE_EVALUATION__BOOTSTRAP_SAMPLES", "200")
    questions, _ = question_files
    result = CliRunner().invoke(eval_app, [
        "--questions", str(questions), "--conversations", str(conversation_file), "--models", "demo",
        "--rag", "on", "--base-url", fake_server, "--out", str(tmp_path / "out"),
    ])
    assert result.exit_code == 0, result.output
    assert "demo+RAG" in result.output and (tmp_path / "out" / "report.html").is_file()
    assert "conversations (final turn)" in result.output
    assert "Conversations (held-out" in (tmp_path / "out" / "report.html").read_text()


def test_unknown_model_is_refused_with_the_served_list(fake_server, question_files, tmp_path):
    with pytest.raises(RagtuneError, match="'nope' is not served .* served: base, demo"):
        evaluate_with(Settings(home=tmp_path), question_files[0], ["nope"], [True], tmp_path / "out",
                      server=fake_server)


def test_bad_question_line_names_file_and_line(tmp_path):
    bad = tmp_path / "questions.jsonl"
    bad.write_text('{"question": "ok?", "reference_answer": "yes"}\n{"question": \n')
    with pytest.raises(RagtuneError, match=r"questions.jsonl:2: not valid JSON"):
        evaluate_with(Settings(home=tmp_path), bad, ["base"], [True], tmp_path / "out", server="http://127.0.0.1:9/v1")


def test_bad_key_facts_name_file_and_line(tmp_path, conversation_file):
    bad = tmp_path / "questions.jsonl"
    bad.write_text('{"question": "ok?", "key_facts": ["30 days"]}\n{"question": "?", "key_facts": "30 days"}\n')
    nowhere = "http://127.0.0.1:9/v1"
    with pytest.raises(RagtuneError, match=r"questions.jsonl:2: 'key_facts' must be a list of non-empty"):
        evaluate_with(Settings(home=tmp_path), bad, ["base"], [True], tmp_path / "out", server=nowhere)
    bad.write_text('{"question": "ok?", "key_facts": ["—"]}\n')
    with pytest.raises(RagtuneError, match=r"questions.jsonl:1: key fact '—' has no letters, digits"):
        evaluate_with(Settings(home=tmp_path), bad, ["base"], [True], tmp_path / "out", server=nowhere)
    good = tmp_path / "good.jsonl"
    good.write_text('{"question": "ok?"}\n')
    conversations = tmp_path / "conversations.jsonl"
    conversations.write_text(conversation_file.read_text(encoding="utf-8").replace('"三个工作日"', '"…"'))
    with pytest.raises(RagtuneError, match=r"conversations.jsonl: conversation 'zh-shipping': key fact '…'"):
        evaluate_with(Settings(home=tmp_path), good, ["base"], [True], tmp_path / "out", server=nowhere,
                      conversations_path=conversations)


def test_cli_refuses_an_unknown_rag_mode(question_files, tmp_path):
    result = CliRunner().invoke(eval_app, ["--questions", str(question_files[0]), "--rag", "maybe"])
    assert isinstance(result.exception, RagtuneError) and "--rag: 'maybe'" in str(result.exception)


def test_a_new_run_moves_the_previous_report_aside(fake_server, question_files, tmp_path):
    settings = Settings(home=tmp_path / "home", evaluation={"bootstrap_samples": 100})
    out = tmp_path / "report"
    evaluate_with(settings, question_files[0], ["demo"], [True], out, server=fake_server)
    (out / "ratings.csv").write_text("my ratings")
    evaluate_with(settings, question_files[0], ["base"], [True], out, server=fake_server)
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("report-")]
    assert len(kept) == 1 and (kept[0] / "ratings.csv").read_text() == "my ratings"
    assert list(json.loads((out / "summary.json").read_text())["summary"]) == ["base+RAG"]
