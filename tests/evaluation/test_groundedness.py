"""Groundedness counts the answer sentences that the cited context supports (embedded all-MiniLM)."""

import pytest

from evaluation.groundedness import GroundednessChecker, split_sentences

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
