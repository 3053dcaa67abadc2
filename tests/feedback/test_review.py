"""The review queue on a seeded log with known duplicates: the ways of asking one thing are one row with a
count, a near miss is a row of its own, answered questions are left out, most frequent first, then newest;
each row says why, with the sources its answers got and a correction to promote."""

import time

from core.settings import AnswersSettings, RetrievalSettings
from feedback.records import Feedback
from feedback.review import review_queue
from tests.feedback.conftest import chat

FALLBACK = {"grounding": {"fallback": True}, "handoff": {"reason": "fallback"}}
HANDOFF = {"grounding": {"fallback": False}, "handoff": {"reason": "user_asked"}}
UNSUPPORTED = {"grounding": {"fallback": False, "answer_supported": False}, "handoff": None}
FINE = {"grounding": {"fallback": False}, "handoff": None}


def logged(response_id: str, question: str, decisions: dict, age_s: float, **fields):
    messages = [{"role": "user", "content": question}]
    return chat(response_id, messages=messages, decisions=decisions, created=time.time() - age_s, **fields)


def test_a_seeded_log_groups_into_the_rows_an_editor_should_see(sqlite_store, embedder):
    refund = {
        "source": "refunds.md",
        "title": "Refunds",
        "document_id": "refunds",
        "chunk_id": "3",
        "score": 0.5,
    }
    sqlite_store.add_chats(
        [
            logged("r1", "How long does a refund take?", FALLBACK, 50, sources=[]),
            logged("r2", "how long do refunds take", FALLBACK, 40, sources=[refund]),
            logged("r3", "How long does it take to get my refund?", FINE, 30),
            logged("r4", "How long do refunds take for Gold members?", HANDOFF, 20),
            logged("z1", "退款多久到账？", FINE, 15),
            logged("z2", "退款多久能到", FALLBACK, 10, sources=[]),
            logged("s1", "Can I swim with the PulseBand 2?", UNSUPPORTED, 5),
            logged("ok", "What are your support hours?", FINE, 1),
        ]
    )
    sqlite_store.add_feedback(
        Feedback(response_id="r3", rating="down", corrected_answer="Five business days.")
    )
    sqlite_store.add_feedback(Feedback(response_id="z1", rating="down"))
    sqlite_store.add_feedback(Feedback(response_id="ok", rating="up"))

    rows = review_queue(sqlite_store.recent(0, 1000), embedder, AnswersSettings(), RetrievalSettings())

    assert [(r.question, r.count) for r in rows] == [
        ("How long does it take to get my refund?", 3),  # the newest wording names the row
        ("退款多久能到", 2),
        ("Can I swim with the PulseBand 2?", 1),
        ("How long do refunds take for Gold members?", 1),  # a near miss is not the same question
    ]
    refunds, chinese, swim, gold = rows
    assert refunds.reasons == {"thumbs_down": 1, "fallback": 2}
    assert refunds.wordings == ["how long do refunds take", "How long does a refund take?"]
    assert refunds.response_ids == ["r3", "r2", "r1"] and refunds.corrected == "r3"
    assert [s["source"] for s in refunds.sources] == ["manuals/router.md", "refunds.md"]
    assert chinese.language == "zh" and chinese.reasons == {"fallback": 1, "thumbs_down": 1}
    assert swim.reasons == {"unsupported": 1} and gold.reasons == {"handoff": 1}
    assert review_queue([], embedder, AnswersSettings(), RetrievalSettings()) == []
