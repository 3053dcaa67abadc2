"""The verifiable reward parts of a RAG answer, each in [0, 1], and their weighted mean: a cited, supported,
correct answer earns more than a fluent wrong one, in English and Chinese."""

import pytest

from core.language import DECLINE
from core.settings import TrainingSettings
from evaluation.rewards import (
    RagReward,
    cites_given_source,
    declines_correctly,
    in_question_language,
    short,
    states_key_facts,
    supported_by_sources,
)
from rails.groundedness import GroundednessChecker
from training.rl import RlSample

RETURNS = (
    "Northwind Gadgets accepts returns within 30 days of delivery with the original receipt. "
    "Refunds go to the original payment method within 5 business days."
)
SHIPPING = "Standard shipping takes 3 to 5 business days and is free on orders over $99."
RETURNS_ZH = "Northwind 商品在签收后 30 天内可以退货，需要提供原始收据。退款会在 5 个工作日内退回原支付方式。"

EN = RlSample(
    prompt="",
    prompt_messages=[],
    question="How long do I have to return a gadget?",
    sources=[SHIPPING, RETURNS],
    gold=[2],
    key_facts=["30 days"],
    should_decline=False,
)
ZH = RlSample(
    prompt="",
    prompt_messages=[],
    question="商品签收后多久内可以退货？",
    sources=[RETURNS_ZH],
    gold=[1],
    key_facts=["30 天"],
    should_decline=False,
)
UNANSWERABLE = RlSample(
    prompt="",
    prompt_messages=[],
    question="Can I rent a drone for a weekend?",
    sources=[SHIPPING],
    gold=[],
    key_facts=[],
    should_decline=True,
)
CASES = {
    "en": (
        EN,
        "You can return a gadget within 30 days of delivery with the original receipt [2].",
        "Of course! You can return any gadget within 90 days, no receipt needed, and we pay the shipping too.",
    ),
    "zh": (
        ZH,
        "签收后 30 天内可以退货，需要提供原始收据 [1]。",
        "当然可以！所有商品在一年内都可以无理由退货，不需要任何收据，运费也由我们承担。",
    ),
}


@pytest.fixture(scope="module")
def checker(embedder) -> GroundednessChecker:
    return GroundednessChecker(embedder, threshold=0.6)


@pytest.fixture(scope="module")
def reward(checker) -> RagReward:
    training = TrainingSettings()
    return RagReward(training.rl_reward_weights, checker, training.rl_max_answer_words)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_cited_supported_correct_answer_earns_more_than_a_fluent_wrong_one(reward, language):
    sample, right, wrong = CASES[language]
    good, bad = reward.parts(right, sample), reward.parts(wrong, sample)
    assert good["citation"] == 1.0 and bad["citation"] == 0.0
    assert good["key_facts"] == 1.0 and bad["key_facts"] == 0.0
    assert good["language"] == bad["language"] == 1.0
    assert reward.total(good) > reward.total(bad) + 0.3
    assert reward(right, sample) == reward.total(good)


def test_citation_counts_the_given_gold_sources():
    assert cites_given_source("Within 30 days [2].", EN) == 1.0
    assert cites_given_source("Within 30 days [1][2].", EN) == 0.5  # [1] is the shipping page
    assert cites_given_source("Within 30 days [7].", EN) == 0.0  # no seventh source was given
    assert cites_given_source("Within 30 days.", EN) == 0.0
    no_gold = RlSample(**{**EN.__dict__, "gold": []})
    assert cites_given_source("Within 30 days [1].", no_gold) == 1.0  # any given source, gold unknown
    assert cites_given_source(DECLINE["en"], UNANSWERABLE) is None  # nothing to cite


def test_groundedness_judges_answers_not_declines(checker):
    assert supported_by_sources("You can return products within 30 days of delivery with the receipt [2].",
                                EN, checker) == 1.0
    assert supported_by_sources("We also offer free lifetime repairs on all laptops.", EN, checker) == 0.0
    assert supported_by_sources(DECLINE["en"], EN, checker) is None
    assert supported_by_sources(DECLINE["zh"], ZH, checker) is None


def test_key_facts_in_any_written_form():
    assert states_key_facts("You have thirty days.", EN) == 1.0
    assert states_key_facts("您有三十天的时间。", ZH) == 1.0
    assert states_key_facts("您有 3 天的时间。", ZH) == 0.0
    assert states_key_facts("No.", UNANSWERABLE) is None  # the question lists none


@pytest.mark.parametrize("language", ["en", "zh"])
def test_declining_is_right_only_when_the_sources_hold_no_answer(language):
    decline = DECLINE[language]
    answerable = CASES[language][0]
    assert declines_correctly(decline, UNANSWERABLE) == 1.0
    assert declines_correctly("Yes, drones rent for $20 a day.", UNANSWERABLE) == 0.0
    assert declines_correctly(decline, answerable) == 0.0
    assert declines_correctly(CASES[language][1], answerable) == 1.0


def test_the_answer_must_be_in_the_question_language():
    assert in_question_language("You can return it within 30 days [2].", EN) == 1.0
    assert in_question_language("签收后 30 天内可以退货 [1]。", ZH) == 1.0
    assert in_question_language("You can return it within 30 days [1].", ZH) == 0.0
    assert in_question_language("[1]", EN) == 0.0  # nothing but a marker


def test_short_answers_are_full_and_long_ones_fall_to_zero():
    assert short("word " * 60, 60) == 1.0
    assert short("word " * 90, 60) == 0.5
    assert short("word " * 200, 60) == 0.0
    assert short("字" * 90, 60) == 0.5  # each Chinese character counts as a word


def test_a_correct_decline_scores_full_and_a_made_up_answer_does_not(reward):
    assert reward(DECLINE["en"], UNANSWERABLE) == 1.0
    assert reward("Yes, you can rent a SkyLens drone for $20 a day from any store [1].", UNANSWERABLE) < 0.7


def test_the_total_is_the_weighted_mean_of_the_parts_that_apply(checker):
    reward = RagReward({"citation": 3.0, "language": 1.0, "short": 0.0}, checker, 60)
    assert set(reward.parts("Within 30 days.", EN)) == {"citation", "language"}  # weight 0: not computed
    assert reward.total({"citation": 0.0, "language": 1.0}) == 0.25
    assert reward.total({"citation": None, "language": 1.0}) == 1.0
    with_model = RagReward({"reward_model": 1.0}, checker, 60, reward_model=lambda answer, sample: 0.8)
    assert with_model("Within 30 days.", EN) == 0.8
    with pytest.raises(ValueError, match="unknown parts fluency"):
        RagReward({"fluency": 1.0}, checker, 60)
