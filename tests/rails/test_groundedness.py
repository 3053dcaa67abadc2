"""Groundedness counts the answer sentences that the cited context supports (embedded all-MiniLM)."""

import pytest

from core.settings import GroundingSettings
from rails.groundedness import AnswerCheck, AnswerSupport, GroundednessChecker, final_answer, split_sentences
from rails.language import Texts

CONTEXT = [
    "Northwind Gadgets accepts returns within 30 days of delivery with the original receipt. "
    + "Refunds go to the original payment method within 5 business days."
]


@pytest.fixture(scope="module")
def checker(embedder) -> GroundednessChecker:
    return GroundednessChecker(embedder, threshold=0.6)


def test_supported_and_invented_sentences(checker):
    supported = "You can return products within 30 days of delivery if you have the receipt [1]."
    refund = "Your refund is paid back to your original payment method in about five business days."
    invented = "We also offer free lifetime repairs on all laptops."
    assert checker.score(f"{supported} {refund}", CONTEXT) == 1.0
    assert checker.score(f"{supported} {invented}", CONTEXT) == 0.5
    assert checker.score(invented, CONTEXT) == 0.0


def test_nothing_to_judge_gives_none(checker):
    assert checker.score("Sure!", CONTEXT) is None
    assert checker.score("You can return products within 30 days.", []) is None


def test_sentences_split_in_english_and_chinese_without_markers():
    assert split_sentences("Returns take 30 days [1]. Refunds take 5 days [2]!\nOk.") == [
        "Returns take 30 days.", "Refunds take 5 days!"]
    assert split_sentences("订单通常在三个工作日内发货。退货需要原始收据！") == ["订单通常在三个工作日内发货。", "退货需要原始收据！"]


def test_answer_check_judges_against_the_full_sources(embedder):
    check = AnswerCheck(embedder, GroundingSettings())
    supported = check.check("You can return products within 30 days of delivery with the receipt.", CONTEXT)
    assert supported.supported and supported.share == 1.0
    invented = check.check("We also offer free lifetime repairs on all laptops. Shipping to Mars takes a day.", CONTEXT)
    assert not invented.supported and invented.share == 0.0 and len(invented.unsupported) == 2
    assert check.check("Sure!", CONTEXT).supported  # nothing to judge


@pytest.mark.parametrize("question", ["Do you repair laptops?", "你们修笔记本电脑吗？"])
def test_an_unsupported_answer_is_replaced_noted_or_kept_as_settings_say(question):
    texts, answer = Texts(), "We repair laptops for free."
    unsupported, supported = (
        AnswerSupport(supported=False, share=0.0, threshold=0.5, unsupported=[answer]),
        AnswerSupport(supported=True, share=1.0, threshold=0.5, unsupported=[]),
    )
    assert final_answer(answer, unsupported, "replace", texts, question) == texts.for_text("fallback", question)
    noted = final_answer(answer, unsupported, "notice", texts, question)
    assert noted.startswith(answer) and noted.endswith(texts.for_text("unsupported", question))
    assert final_answer(answer, unsupported, "flag", texts, question) == answer
    assert final_answer(answer, supported, "replace", texts, question) == answer


def test_sources_seen_before_are_not_embedded_again(embedder, monkeypatch):
    checker, embedded = GroundednessChecker(embedder, threshold=0.6), []
    encode = embedder.encode_for_check

    def recording(texts):
        embedded.append(list(texts))
        return encode(texts)

    monkeypatch.setattr(embedder, "encode_for_check", recording)
    answers = ["You can return products within 30 days of delivery.", "We also offer free lifetime repairs."]
    first = [checker.supported(answer, CONTEXT) for answer in answers]
    units = sum(len(texts) for texts in embedded) - 2  # the two answer sentences
    # the source and its sentences once; for the second answer, the answer alone
    assert units == 3 and embedded[2] == [answers[1]]
    assert [checker.supported(answer, CONTEXT) for answer in answers] == first
    assert first == [[(answers[0], True)], [(answers[1], False)]]
