"""The grounding gate answers questions its knowledge base answers and declines on-topic ones it does not
(English and Chinese); `ragtune rails calibrate` prints a threshold for a team's own questions."""

import json

import pytest
from typer.testing import CliRunner

from core.settings import GroundingSettings, KnowledgeSettings, RetrievalSettings
from rails.calibration import choose_threshold, cross_validate, roc_auc
from rails.grounding import GroundingGate
from retrieval.evidence import coverage, product_names, stem

DOCUMENTS = {
    "returns.md": "# Returns\n\nYou can return any item within 30 days of delivery for a refund. Gold members "
    "get 45 days. A $6.95 label fee is deducted for change-of-mind returns.\n\n## Refunds\n\nRefunds are "
    "issued within 5 business days after inspection and go back to the original payment method.",
    "skylens.md": "# SkyLens Mini drone (NW-8804)\n\nThe SkyLens Mini weighs 249 g and can fly up to 31 minutes "
    "per battery. A battery charges in about 70 minutes. Return to Home starts when the battery is low.",
    "skylens-troubleshooting.md": "# SkyLens Mini troubleshooting\n\nE-402 is a compass error: calibrate the "
    "compass away from metal. E-418 means the SkyLens Mini battery is too cold; warm it above 5 °C. Lost "
    "drones are not covered by the warranty.",
    "zh-shipping.md": "# 配送说明\n\n中国大陆订单由深圳仓发货，全部使用顺丰速运配送。订单满 399 元免运费，不满收取 15 元运费。"
    "新疆、西藏的订单 5 到 10 个工作日送达。",
    "zh-warranty.md": "# 保修条款\n\n所有设备自签收之日起享受 2 年保修。单独购买的配件保修 1 年。意外损坏不在保修范围内。",
}
ANSWERABLE = [
    "How many days do I have to return an item?",
    "How long until my refund is issued?",
    "How many minutes can the SkyLens Mini fly on one battery?",
    "订单满多少钱免运费？",
    "配件保修多久？",
]
UNANSWERABLE = [
    "Can I rent a drone for a weekend trip?",
    "Is the SkyLens Max waterproof?",  # a model that does not exist
    "Can I get my refund paid in bitcoin?",
    "Can I return an item at one of your retail stores?",
    "可以用京东快递配送吗？",
    "保修期间可以提供备用机吗？",
]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def kb(home, embedder):
    from knowledge import KnowledgeBase

    kb = KnowledgeBase.open(home / "kb", KnowledgeSettings(), RetrievalSettings(), embedder)
    for name, text in DOCUMENTS.items():
        kb.add_document(name, text.encode())
    return kb


@pytest.fixture(scope="module")
def gate(kb) -> GroundingGate:
    return GroundingGate(GroundingSettings(), idf=kb.idf)


@pytest.mark.parametrize("question", ANSWERABLE)
def test_answerable_questions_pass_the_gate(kb, gate, question):
    decision = gate.decide(question, kb.search(question))
    assert decision.answered, decision.reason
    assert decision.signal == "coverage" and decision.score >= decision.threshold


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_on_topic_questions_the_documents_do_not_answer_get_the_fallback(kb, gate, question):
    hits = kb.search(question)
    assert hits, "retrieval finds on-topic chunks, so the gate is what declines"
    decision = gate.decide(question, hits)
    assert not decision.answered
    assert decision.score < decision.threshold and "lacks" in decision.reason


def test_no_hits_or_a_gate_turned_off(kb):
    assert not GroundingGate(GroundingSettings()).decide("anything", []).answered
    off = GroundingGate(GroundingSettings(enabled=False)).decide(UNANSWERABLE[0], kb.search(UNANSWERABLE[0]))
    assert off.answered and off.signal == "off"


def test_other_signals_can_decide(kb):
    question = ANSWERABLE[0]
    decision = GroundingGate(GroundingSettings(signal="dense", threshold=0.3)).decide(question, kb.search(question))
    assert decision.signal == "dense" and decision.answered


def test_coverage_names_what_the_best_source_lacks(kb):
    question = "Is the SkyLens Max waterproof?"
    found = coverage(question, kb.search(question), kb.idf)
    assert "skylens max" in found.missing and 0 < found.share < 1
    assert product_names("Is the AeroBuds Pro 2 like the PulseBand 3?") == ["aerobuds pro 2", "pulseband 3"]
    assert stem("delivered") == stem("delivery") == stem("deliver")


def test_calibration_figures():
    scores, labels = [0.1, 0.2, 0.3, 0.6, 0.7, 0.9], [False, False, True, False, True, True]
    assert roc_auc(scores, labels) == pytest.approx(8 / 9)
    assert choose_threshold(scores, labels, max_false_refusal=0.0) == 0.25  # refuses 2 of 3, answers all
    refused, false = cross_validate([0.1, 0.2, 0.15, 0.8, 0.9, 0.85], [False, False, False, True, True, True], 3)
    assert (refused, false) == (1.0, 0.0)


def test_cli_calibrate_prints_a_threshold_and_the_settings_line(kb, home, tmp_path, monkeypatch):
    from ragtune.cli import app

    questions = tmp_path / "questions.jsonl"
    rows = [{"question": q, "answerable": True} for q in ANSWERABLE]
    rows += [{"question": q, "answerable": False} for q in UNANSWERABLE]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    monkeypatch.setenv("RAGTUNE_HOME", str(home))
    result = CliRunner().invoke(app, ["rails", "calibrate", "--questions", str(questions), "--folds", "2"])
    assert result.exit_code == 0, result.output
    assert "coverage" in result.output and "ROC-AUC" in result.output
    assert "RAGTUNE_RAILS__GROUNDING__THRESHOLD=" in result.output and "threshold:" in result.output
