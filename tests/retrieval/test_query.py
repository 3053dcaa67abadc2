"""The retrieval query of a conversation (retrieval/query.py): a follow-up is completed with the topic it refers
to, a topic switch drops the stale product, a question that stands alone is searched as written."""

from core.language import DECLINE_EN
from core.settings import RetrievalSettings
from retrieval.query import resolve_query

SETTINGS = RetrievalSettings()


def resolve(*turns: str, small_talk=None):
    messages = [{"role": ("user", "assistant")[i % 2], "content": text} for i, text in enumerate(turns)]
    return resolve_query(messages, SETTINGS, small_talk=small_talk)


def test_a_pronoun_follow_up_carries_the_product_and_code_asked_about():
    query = resolve("My AeroBuds Pro show error E-117.", "That is a firmware mismatch.", "How do I fix it?")
    assert query.is_follow_up and "E-117" in query.text and "AeroBuds Pro" in query.text
    assert query.question == "How do I fix it?"


def test_ellipsis_in_chinese_and_english_carries_the_earlier_question():
    assert "国内运费" in resolve("国内运费多少？", "满99元包邮。", "国际的呢？").text
    assert (
        "return" in resolve("How long do I have to return an item?", "30 days.", "And for Gold members?").text
    )
    assert "退货" in resolve("我想退货", "好的。", "有几天时间？").text


def test_a_topic_switch_keeps_what_was_asked_and_drops_the_stale_product():
    query = resolve("What's the warranty on AeroBuds Pro?", "One year.", "and the PulseBand 2?")
    assert "warranty" in query.text and "PulseBand 2" in query.text and "AeroBuds" not in query.text


def test_a_question_that_names_its_topic_stands_alone():
    query = resolve("What's the warranty on AeroBuds Pro?", "One year.", "How do I reset my PulseBand 2?")
    assert not query.is_follow_up and query.text == "How do I reset my PulseBand 2?"


def test_greetings_and_declined_questions_carry_no_topic():
    greeted = resolve(
        "hi", "Hello! How can I help?", "How many days do I have?", small_talk={"hi"}.__contains__
    )
    assert not greeted.is_follow_up
    declined = resolve("Do you have a store in Paris?", DECLINE_EN, "How do I return an order?")
    assert "Paris" not in declined.text


def test_a_product_only_the_assistant_named_is_carried():
    query = resolve(
        "My earbuds won't charge.", "For AeroBuds Pro, clean the contacts.", "What if that fails?"
    )
    assert "aerobuds pro" in query.text.lower()


def test_the_gate_reads_the_assistants_words_only_when_the_question_points_at_them():
    pointed = resolve(
        "I ordered 20 minutes ago and made a mistake.",
        "While the order is Processing you can cancel it or change the address.",
        "Where do I do that?",
    )
    assert "cancel" in pointed.text and "cancel" in pointed.gated
    product = resolve("I have the SkyLens Mini.", "The SkyLens Mini is a 249 g drone.", "Can it follow me?")
    assert "249 g" in product.text and "249 g" not in product.gated


def test_no_history_turns_searches_every_turn_alone():
    messages = [
        {"role": "user", "content": "My AeroBuds Pro show error E-117."},
        {"role": "assistant", "content": "A firmware mismatch."},
        {"role": "user", "content": "How do I fix it?"},
    ]
    assert resolve_query(messages, RetrievalSettings(query_history_turns=0)).text == "How do I fix it?"
