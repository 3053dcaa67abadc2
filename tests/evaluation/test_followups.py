"""`ragtune eval followups`: recall@k and the relevance gate's decisions for a conversation's last turn, asked
as serving resolves it, written out in full, and alone; on a tiny real knowledge base."""

import json

import pytest
from typer.testing import CliRunner

from core.errors import RagtuneError
from core.settings import GroundingSettings, KnowledgeSettings, RetrievalSettings
from evaluation.conversations import load_conversations
from evaluation.followups import ask, summarise
from rails.grounding import GroundingGate

DOCUMENTS = {
    "troubleshooting-aerobuds.md": "# AeroBuds Pro troubleshooting\n\n## Firmware mismatch (error E-117)\n\nE-117 "
    "means the earbuds and the case have different firmware versions. Put both earbuds in the case, connect "
    "the case to power and tap Device > Update in the app. The update takes about 8 minutes.",
    "returns.md": "# Returns\n\nYou can return any item within 30 days of delivery. Gold and Platinum members "
    "get a 45-day return window. A $6.95 label fee is deducted for change-of-mind returns.",
    "pulseband-2.md": "# PulseBand 2 fitness tracker\n\nThe PulseBand 2 battery lasts up to 10 days. It is "
    "water resistant to 5 ATM: swimming in a pool is fine.",
    "zh-shipping.md": "# 配送说明\n\n订单由深圳仓发货，使用顺丰速运配送，发货后 3–7 个工作日送达。新疆、西藏的订单 5–10 个工作日送达。",
}
CONVERSATIONS = [
    {
        "id": "e117",
        "language": "en",
        "kind": "pronoun",
        "answerable": True,
        "messages": [
            {"role": "user", "content": "My AeroBuds Pro show error E-117."},
            {"role": "assistant", "content": "E-117 means the earbuds and the case have different firmware."},
            {"role": "user", "content": "How do I fix it?"},
        ],
        "standalone_question": "How do I fix error E-117 on my AeroBuds Pro?",
        "gold_sources": ["troubleshooting-aerobuds.md"],
        "key_facts": ["E-117"],
    },
    {
        "id": "xinjiang",
        "language": "zh",
        "kind": "ellipsis",
        "answerable": True,
        "messages": [
            {"role": "user", "content": "顺丰配送一般要几天？"},
            {"role": "assistant", "content": "发货后 3–7 个工作日送达。"},
            {"role": "user", "content": "新疆呢？"},
        ],
        "standalone_question": "寄到新疆的订单要几个工作日送达？",
        "gold_sources": ["zh-shipping.md"],
    },
    {
        "id": "rent",
        "language": "en",
        "kind": "topic_switch",
        "answerable": False,
        "messages": [
            {"role": "user", "content": "How long does the PulseBand 2 battery last?"},
            {"role": "assistant", "content": "Up to 10 days."},
            {"role": "user", "content": "Something else: do you rent out drones for a weekend trip?"},
        ],
        "standalone_question": "Can I rent a drone for a weekend trip?",
        "gold_sources": [],
    },
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


@pytest.fixture
def conversations_file(tmp_path):
    path = tmp_path / "conversations.jsonl"
    path.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in CONVERSATIONS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def outcomes(kb):
    from evaluation.conversations import Conversation

    gate = GroundingGate(GroundingSettings(), idf=kb.idf)
    loaded = [Conversation(**{**c, "key_facts": c.get("key_facts", [])}) for c in CONVERSATIONS]
    return {o.conversation.id: o for o in (ask(c, kb.search, gate, RetrievalSettings()) for c in loaded)}


def test_each_way_of_asking_is_searched_and_judged(outcomes):
    e117, xinjiang, rent = outcomes["e117"], outcomes["xinjiang"], outcomes["rent"]
    # written out in full, the follow-up finds its page and passes the gate; typed alone, "it" finds nothing
    assert e117.asked["standalone"].recall == 1.0 and e117.asked["standalone"].answered
    assert e117.asked["alone"].query == "How do I fix it?"
    assert e117.asked["alone"].recall == 0.0 and not e117.asked["alone"].answered
    # the conversation names the product and the code: serving's query finds the page
    assert "E-117" in e117.asked["resolved"].query and e117.asked["resolved"].recall == 1.0
    assert xinjiang.asked["standalone"].recall == 1.0 and xinjiang.asked["standalone"].answered
    # unanswerable: no recall to count, and the gate refuses what the documents do not say
    assert rent.asked["standalone"].recall is None and not rent.asked["standalone"].answered


def test_a_follow_up_is_judged_as_completed_or_as_written_whichever_covers_more(kb):
    from retrieval.query import ResolvedQuery

    gate = GroundingGate(GroundingSettings(), idf=kb.idf)
    question = "How many days do I have to return an item?"
    hits = kb.search(question)
    carried = "Can I rent a drone for a weekend trip?"  # an earlier turn with terms no source holds
    completed = ResolvedQuery(text=f"{carried}\n{question}", question=question, carried=carried)
    assert not gate.decide(completed.text, hits).answered
    assert gate.decide_query(completed, hits).answered
    whole = ResolvedQuery(text=completed.text, question=completed.text)  # asked as one question: as it is
    assert not gate.decide_query(whole, hits).answered


def test_the_summary_counts_per_language_and_kind(outcomes):
    summaries = {s.group: s for s in summarise(list(outcomes.values()))}
    assert list(summaries) == ["all", "en", "zh", "en/pronoun", "en/topic_switch", "zh/ellipsis"]
    everything, english = summaries["all"], summaries["en"]
    assert (everything.conversations, everything.answerable) == (3, 2)
    assert everything.recall["standalone"] == 1.0 and everything.false_refusals["standalone"] == 0.0
    assert everything.unanswerable_refused["standalone"] == 1.0
    assert english.recall["alone"] == 0.0 and english.false_refusals["alone"] == 1.0  # e117 alone: refused
    assert summaries["en/topic_switch"].unanswerable_refused["standalone"] == 1.0
    assert summaries["en/topic_switch"].recall["standalone"] is None  # no answerable turn there
    assert summaries["zh/ellipsis"].unanswerable_refused["standalone"] is None  # nor an unanswerable one here


def test_cli_prints_the_tables_and_json(kb, home, conversations_file, monkeypatch):
    from ragtune.cli import app

    monkeypatch.setenv("RAGTUNE_HOME", str(home))
    shown = CliRunner().invoke(app, ["eval", "followups", "--conversations", str(conversations_file)])
    assert shown.exit_code == 0, shown.output
    assert "recall@5" in shown.output and "en/pronoun" in shown.output and "zh/ellipsis" in shown.output
    printed = CliRunner().invoke(
        app, ["eval", "followups", "--conversations", str(conversations_file), "--json"]
    )
    assert printed.exit_code == 0, printed.output
    report = json.loads(printed.stdout)
    first = report["conversations"][0]
    assert first["id"] == "e117" and first["standalone"]["recall"] == 1.0 and first["alone"]["recall"] == 0.0
    assert report["summary"][0]["group"] == "all" and report["summary"][0]["conversations"] == 3


ONE_TURN = [{"role": "user", "content": "a"}]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"language": "fr", "kind": "pronoun"}, "'language' must be one of zh, en"),
        (
            {
                "language": "en",
                "kind": "pronoun",
                "standalone_question": "q",
                "messages": [*ONE_TURN, {"role": "assistant", "content": "b"}],
            },
            "the last message must be",
        ),
        (
            {
                "language": "zh",
                "kind": "ellipsis",
                "standalone_question": "q",
                "messages": ONE_TURN,
                "gold_sources": "returns.md",
            },
            "'gold_sources' must be a list",
        ),
    ],
)
def test_a_bad_conversation_is_named_with_file_and_line(tmp_path, row, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n" + json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(RagtuneError, match=message) as raised:
        load_conversations(path)
    assert f"{path}:2" in str(raised.value)
