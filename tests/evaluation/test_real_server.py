"""The evaluation through ragtune's own server (`ragtune serve` started for the run) on the embedded models."""

import json

import pytest

from core.errors import RagtuneError
from core.settings import DecodingSettings
from evaluation.server import started_server
from knowledge import KnowledgeBase
from server.runtime import base_model_id
from tests.evaluation.conftest import evaluate_with

RETURNS = b"# Returns\n\nNorthwind Gadgets accepts returns within 30 days of delivery with the original receipt.\n"
QUESTIONS = [
    {"question": "Within how many days can I return an item to Northwind Gadgets?", "gold_sources": ["returns.md"],
     "reference_answer": "You can return items within 30 days of delivery with the original receipt."},
    {"question": "Do you sell electric cars?", "answerable": False,
     "reference_answer": "I'm sorry, I don't have that information."},
]


@pytest.mark.slow
def test_eval_through_the_real_server(settings, tmp_path):
    settings.engine.kind = "transformers"  # starts fastest; one small model, no vLLM engine beside others
    settings.evaluation.max_tokens = 40
    settings.evaluation.bootstrap_samples = 200
    # The answers come with the server's decoding defaults for the model, and the report says which.
    decoding = DecodingSettings(temperature=0.2, frequency_penalty=0.3)
    settings.server.decoding = {base_model_id(settings.chat_model): decoding}
    KnowledgeBase.open(settings.kb_dir, settings.knowledge, settings.retrieval).add_document("returns.md", RETURNS)
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n")

    report = tmp_path / "report"
    evaluate_with(settings, questions, ["base"], [True, False], report, server=started_server(settings))

    result = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert list(result["summary"]) == ["base", "base+RAG"]
    assert result["summary"]["base+RAG"]["recall_at_k"] == 1.0  # the server retrieved and cited returns.md
    assert result["summary"]["base"]["recall_at_k"] is None
    assert result["summary"]["base"]["tokens_per_s"] > 0
    rows = [json.loads(line) for line in (tmp_path / "report" / "results.jsonl").read_text().splitlines()]
    assert all(r["answer"] for r in rows)
    assert (tmp_path / "report" / "report.html").is_file()
    assert result["decoding"]["base"]["temperature"] == 0.2
    assert result["decoding"]["base"]["frequency_penalty"] == 0.3
    stated = next(line for line in (report / "report.md").read_text().splitlines()
                  if line.startswith("- base: "))
    assert "temperature 0.2" in stated and "frequency_penalty 0.3" in stated


@pytest.mark.slow
def test_a_server_that_cannot_start_is_reported_with_its_log(settings, tmp_path):
    settings.chat_model = str(tmp_path / "no-such-model")
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps(QUESTIONS[0]) + "\n")
    with pytest.raises(RagtuneError, match=r"(?s)`ragtune serve` exited with code \d+ before answering:.*no-such-model"):
        evaluate_with(settings, questions, ["base"], [True], tmp_path / "out", server=started_server(settings))
    assert not (tmp_path / "out").exists()
