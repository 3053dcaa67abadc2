"""The demo's conversation sets (examples/eval/conversations_validation.jsonl for tuning follow-up resolution,
examples/eval/conversations.jsonl held out): they load, cover every kind of follow-up in both languages,
their key facts are what the gold documents say, and the held-out set is neither the validation set nor the
training data."""

import pytest

from core.language import DECLINE, detect_language
from evaluation.conversations import load_conversations
from evaluation.facts import states
from tests.examples.test_demo_content import (
    EXAMPLES,
    KNOWLEDGE,
    document_text,
    overlap,
    read_jsonl,
    training_prompts,
)

KINDS = {"pronoun", "ellipsis", "assistant_topic", "topic_switch", "after_fallback"}
SETS = {"conversations_validation.jsonl": 40, "conversations.jsonl": 30}  # file: fewest conversations


@pytest.fixture(scope="module", params=sorted(SETS))
def conversation_set(request):
    return request.param, load_conversations(EXAMPLES / "eval" / request.param)


def test_each_set_has_every_kind_in_both_languages(conversation_set):
    name, conversations = conversation_set
    assert len(conversations) >= SETS[name]
    assert 0.4 <= sum(c.language == "zh" for c in conversations) / len(conversations) <= 0.6
    for language in ("en", "zh"):
        ours = [c for c in conversations if c.language == language]
        assert {c.kind for c in ours} == KINDS, (name, language)
        assert sum(not c.answerable for c in ours) >= 3, (name, language)
    for c in conversations:
        assert detect_language(c.follow_up) == c.language, c.id
        assert len(c.messages) >= 3 and c.standalone_question != c.follow_up, c.id
        if c.kind == "after_fallback":  # the earlier question got the fallback, word for word
            assert c.messages[-2]["content"] == DECLINE[c.language], c.id


def test_key_facts_are_what_the_gold_documents_say(conversation_set):
    """An answerable follow-up lists the facts a correct answer must state: its reference answer and one of
    its gold documents state each, the follow-up itself none; an unanswerable one lists no source or fact."""
    _, conversations = conversation_set
    for c in conversations:
        assert bool(c.gold_sources) == bool(c.key_facts) == c.answerable, c.id
        gold = [document_text(KNOWLEDGE / source) for source in c.gold_sources]
        for fact in c.key_facts:
            assert states(c.reference_answer, fact), (c.id, fact)
            assert any(states(text, fact) for text in gold), (c.id, fact)
            assert not states(c.follow_up, fact), (c.id, fact)


def test_the_held_out_set_is_not_the_validation_set_nor_training_data():
    held_out = load_conversations(EXAMPLES / "eval" / "conversations.jsonl")
    validation = load_conversations(EXAMPLES / "eval" / "conversations_validation.jsonl")
    asked = [v.standalone_question for v in validation]
    prompts = training_prompts(read_jsonl(EXAMPLES / "training" / "conversations.jsonl"))
    for c in held_out:
        closest = max(asked, key=lambda q: overlap(c.standalone_question, q))
        assert overlap(c.standalone_question, closest) < 0.5, (c.id, closest)
        for text in [c.standalone_question] + [m["content"] for m in c.messages if m["role"] == "user"]:
            closest = max(prompts, key=lambda p: overlap(text, p))
            assert overlap(text, closest) < 0.6, (c.id, text, closest)
