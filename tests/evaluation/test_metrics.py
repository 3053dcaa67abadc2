"""Metrics on known strings give known values, Chinese included."""

import pytest

from evaluation import metrics


def test_rouge_l_on_known_english_strings():
    # LCS of "the cat on the mat" (5 tokens) inside "the cat sat on the mat" (6): P = 5/5, R = 5/6
    assert metrics.rouge_l("the cat on the mat", "The cat sat on the mat.") == pytest.approx(2 * 1 * 5 / 6 / (1 + 5 / 6))
    assert metrics.rouge_l("Returns within 30 days", "returns within 30 days") == 1.0
    assert metrics.rouge_l("completely different", "nothing shared here") == 0.0


def test_rouge_l_scores_chinese_by_character():
    # 我喜欢猫 vs 我喜欢狗: LCS 3 of 4 characters each way
    assert metrics.rouge_l("我喜欢猫", "我喜欢狗") == pytest.approx(0.75)
    # 订单在三天内发货 (8 chars) against 订单通常在三个工作日内发货 (13): LCS 订单在三内发货 = 7
    assert metrics.rouge_l("订单在三天内发货", "订单通常在三个工作日内发货") == pytest.approx(2 * 7 / 8 * 7 / 13 / (7 / 8 + 7 / 13))


def test_tokens_split_chinese_per_character_and_keep_words():
    assert metrics.tokenize("退货政策 is 30 Days!") == ["退", "货", "政", "策", "is", "30", "days"]
    assert metrics.answer_length("退货需要30天。") == 6


def test_chrf_known_values_and_order():
    assert metrics.chrf("Returns within 30 days.", "Returns within 30 days.") == pytest.approx(100.0)
    assert metrics.chrf("xyz", "abc") == 0.0
    assert metrics.chrf("订单通常在三个工作日内发货", "订单通常在三个工作日内发货") == pytest.approx(100.0)
    close = metrics.chrf("订单通常在三个工作日内发货", "订单一般在三个工作日内发货")
    far = metrics.chrf("订单一般在两周后寄出", "订单通常在三个工作日内发货")
    assert 0 < far < close < 100


def test_source_matching_is_by_path_suffix():
    assert metrics.source_matches("/srv/examples/knowledge/policies/returns.md", "policies/returns.md")
    assert metrics.source_matches("examples\\knowledge\\returns.md", "returns.md")
    assert not metrics.source_matches("/srv/knowledge/old-returns.md", "returns.md")
    assert not metrics.source_matches("/srv/knowledge/other/returns.md", "policies/returns.md")


def test_recall_at_k_and_reciprocal_rank():
    cited = ["/kb/faq.md", "/kb/returns.md", "/kb/warranty.md"]
    assert metrics.recall_at_k(cited, ["returns.md", "warranty.md"], k=2) == 0.5
    assert metrics.recall_at_k(cited, ["returns.md", "warranty.md"], k=3) == 1.0
    assert metrics.reciprocal_rank(cited, ["returns.md"]) == 0.5
    assert metrics.reciprocal_rank(cited, ["shipping.md"]) == 0.0
    assert metrics.recall_at_k(cited, [], k=3) is None and metrics.reciprocal_rank(cited, []) is None


def test_citation_correctness_reads_markers_then_falls_back_to_cited_sources():
    cited = ["/kb/returns.md", "/kb/faq.md"]
    assert metrics.citation_correctness("Within 30 days [1].", cited, ["returns.md"]) == 1.0
    assert metrics.citation_correctness("Within 30 days [1][2].", cited, ["returns.md"]) == 0.5
    assert metrics.citation_correctness("See [7].", cited, ["returns.md"]) == 0.0  # points at nothing
    assert metrics.citation_correctness("Within 30 days.", cited, ["returns.md"]) == 0.5
    assert metrics.citation_correctness("Within 30 days.", [], ["returns.md"]) is None


@pytest.mark.parametrize("answer", [
    "I'm sorry, I don't have that information.", "I don’t know the answer to that.",
    "The sources do not contain this.", "抱歉，我没有相关信息。", "我不知道。", "",
    "I'm sorry, but I'm unable to assist with that.", "We couldn't find anything about that in our documents.",
])
def test_refusals_are_detected_in_english_and_chinese(answer):
    assert metrics.is_refusal(answer)


@pytest.mark.parametrize("answer", [
    "You can return products within 30 days [1].", "订单通常在三个工作日内发货。",
    "很抱歉让您久等了，您的订单已于今天发货。",  # an apology in an answer is not a refusal
    "I'm sorry, but returns close 30 days after delivery.",
    "The SkyLens Mini is not available in Japan.",  # a fact about the product, not about the sources
    "If you're unable to find your order number, check the confirmation e-mail.",  # the customer's verb
])
def test_answers_are_not_refusals(answer):
    assert not metrics.is_refusal(answer)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_servers_fallback_counts_as_a_refusal(language):
    """The grounding gate's fallback (rails texts, core.language.DECLINE) is what refusal accuracy counts."""
    from core.language import DECLINE
    from rails.language import Texts

    assert metrics.is_refusal(Texts().get("fallback", language))
    assert metrics.is_refusal(f"{DECLINE[language]}\n\n— Northwind Support")
