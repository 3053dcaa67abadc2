"""The prompt's sources: a clear winner is not diluted, a long chunk is cut to what answers, the budget holds."""

from core.settings import RetrievalSettings
from retrieval.excerpts import OMITTED, fit_sources
from retrieval.types import Hit


def words(text: str) -> int:
    return len(text.split())


def hit(text: str, title: str = "", n: int = 0) -> Hit:
    return Hit(
        chunk_id=f"c{n}",
        doc_id=f"d{n}",
        text=text,
        source=f"doc{n}.md",
        title=title,
        position=0,
        collection="default",
    )


RETURNS = (
    "Northwind Gadgets wants you to love what you bought. "
    "Our stores open at nine and close at six on weekdays. "
    "Gift cards never expire and can be used online. "
    "Gold and Platinum members get a 45-day return window. "
    "Standard members may return items within 30 days of delivery. "
    "Shipping is free on orders over fifty dollars."
)


def test_a_long_source_is_cut_to_the_sentences_that_answer_in_their_order():
    settings = RetrievalSettings(excerpt_tokens=22)
    question = "How many days do Platinum members have to return an item?"
    [kept] = fit_sources(question, [hit(RETURNS)], settings, words)
    assert "45-day return window" in kept.text and "within 30 days" in kept.text
    assert "stores open" not in kept.text and "Gift cards" not in kept.text
    assert kept.text.index("45-day") < kept.text.index("30 days")  # document order
    assert kept.text.startswith(OMITTED) and kept.text.endswith(OMITTED)  # text left out is marked
    assert words(kept.text.replace(OMITTED, "")) <= 22


def test_a_source_within_its_budget_is_kept_whole():
    [kept] = fit_sources("return window", [hit(RETURNS)], RetrievalSettings(excerpt_tokens=200), words)
    assert kept.text == RETURNS


def test_chinese_sources_are_cut_at_chinese_sentence_ends():
    text = "我们的门店早上九点开门。礼品卡永久有效。金卡和白金会员享有45天退货期。普通会员可在签收后30天内退货。订单满五十元包邮。"
    settings = RetrievalSettings(excerpt_tokens=36)
    [kept] = fit_sources("白金会员退货期多久？", [hit(text)], settings, len)
    assert kept.text == f"{OMITTED}\n金卡和白金会员享有45天退货期。普通会员可在签收后30天内退货。\n{OMITTED}"


def test_a_hit_that_covers_far_less_of_the_question_than_the_best_is_left_out():
    best = hit("Gold and Platinum members get a 45-day return window.", "Returns", 0)
    weak = hit("Platinum is a colour option for the PowerCell 20K.", "PowerCell", 1)
    close = hit("Members may return items within 30 days; Platinum members within 45 days.", "FAQ", 2)
    question = "How long is the return window for Platinum members?"
    kept = fit_sources(question, [best, weak, close], RetrievalSettings(), words)
    assert [h.chunk_id for h in kept] == ["c0", "c2"]
    # the first hit is kept even when a later one covers the question better (training puts the gold one first)
    kept = fit_sources(question, [weak, best], RetrievalSettings(), words)
    assert [h.chunk_id for h in kept] == ["c1", "c0"]


def test_sources_stop_where_the_budget_is_spent():
    hits = [hit(f"Return window number {n} for members is {n + 30} days long.", n=n) for n in range(5)]
    settings = RetrievalSettings(excerpt_tokens=30, source_budget_tokens=40)
    kept = fit_sources("return window for members", hits, settings, words)
    # 10 words each: two fit, and the 20 words left would not be worth a third source's heading
    assert [h.chunk_id for h in kept] == ["c0", "c1"]
    assert fit_sources("anything", [], settings, words) == []
