"""The answer check finds its sources' sentences embedded when they were indexed: on the request path it
embeds only the answer (real embedder, counted at its edge), with the verdict it gave before; a knowledge base
indexed before the sentences were stored still checks correctly, and its next version stores them."""

import sqlite3

import pytest

from core.settings import GroundingSettings, KnowledgeSettings, RetrievalSettings
from knowledge import KnowledgeBase
from knowledge.documents import sha
from rails.groundedness import AnswerCheck
from retrieval.sentences import context_units

INVENTED = "We also offer free lifetime repairs on all laptops."
DOCUMENTS = {
    "en": (
        "returns.md",
        (
            "# Returns\n\nUnused items can be returned within 30 days of delivery with the original receipt. "
            "Refunds go to the original payment method within 5 business days."
        ),
        f"You can return unused items within 30 days of delivery if you have the receipt. {INVENTED}",
    ),
    "zh": (
        "退货.md",
        "# 退货政策\n\n未使用的商品在签收后三十天内凭原始收据可以退货。退款会在五个工作日内退回原支付方式。",
        "未使用的商品在签收后三十天内可以退货。退款会在五个工作日内退回原支付方式。",
    ),
}


class Recorded:
    """Every text the check hands the embedder."""

    def __init__(self, embedder, monkeypatch):
        self.texts: list[str] = []
        encode = embedder.encode_for_check

        def recording(texts):
            self.texts += texts
            return encode(texts)

        monkeypatch.setattr(embedder, "encode_for_check", recording)


def indexed(tmp_path, embedder, name: str, text: str) -> KnowledgeBase:
    kb = KnowledgeBase.open(tmp_path / "kb", KnowledgeSettings(), RetrievalSettings(), embedder)
    kb.add_document(name, text.encode())
    return kb


@pytest.mark.parametrize("language", ["en", "zh"])
def test_after_indexing_the_check_embeds_only_the_answer(tmp_path, embedder, monkeypatch, language):
    name, text, answer = DOCUMENTS[language]
    kb = indexed(tmp_path, embedder, name, text)
    sources = [hit.text for hit in kb.search(answer, k=1)]
    before = AnswerCheck(embedder, GroundingSettings()).check(answer, sources)  # every unit embedded now

    recorded = Recorded(embedder, monkeypatch)
    after = AnswerCheck(embedder, GroundingSettings(), kb.stored_vectors).check(answer, sources)
    assert len(recorded.texts) == 2 and all(sentence in answer for sentence in recorded.texts)
    assert after == before


def test_a_knowledge_base_indexed_before_sentences_were_stored_still_checks_and_its_next_version_stores_them(
    tmp_path, embedder, monkeypatch
):
    name, text, answer = DOCUMENTS["en"]
    kb = indexed(tmp_path, embedder, name, text)
    sources = [hit.text for hit in kb.search(answer, k=1)]
    with sqlite3.connect(tmp_path / "kb" / "catalog.sqlite") as db:  # as it was: chunk vectors only
        db.executemany(
            "DELETE FROM embeddings WHERE hash = ?", [(sha(u),) for u in context_units(sources[0])]
        )
    assert kb.stored_vectors(sources) == {}
    before = AnswerCheck(embedder, GroundingSettings()).check(answer, sources)

    recorded = Recorded(embedder, monkeypatch)
    old = AnswerCheck(embedder, GroundingSettings(), kb.stored_vectors).check(answer, sources)
    assert old == before and old.share == 0.5 and old.unsupported == [INVENTED]
    assert sources[0].strip() in recorded.texts  # what was not stored is embedded on demand

    kb.add_document("shipping.md", b"# Shipping\n\nStandard shipping takes 3 to 5 business days.")
    assert list(kb.stored_vectors(sources)) == sources  # the old document's units are filled in
    recorded.texts.clear()
    assert AnswerCheck(embedder, GroundingSettings(), kb.stored_vectors).check(answer, sources) == before
    assert len(recorded.texts) == 2
