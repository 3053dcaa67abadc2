"""BM25 tokens and chunking as a user of search would notice them."""

from itertools import pairwise

from retrieval.splitting import Splitter
from retrieval.text import tokenize


def test_tokens_keep_product_codes_whole_and_drop_stopwords():
    tokens = tokenize("Where is my order NW-4471? It's the AeroBuds 2.5")
    assert "nw-4471" in tokens and "4471" in tokens  # whole code for exact match, parts for partial ones
    assert "aerobuds" in tokens and "2.5" in tokens
    assert not {"where", "is", "my", "the"} & set(tokens)


def test_chinese_is_cut_into_words_not_characters_or_one_blob():
    tokens = tokenize("退货政策是三十天内可以退款")
    assert "退货" in tokens and "退款" in tokens
    assert "退货政策是三十天内可以退款" not in tokens


def test_chinese_text_splits_at_sentence_ends(embedder):
    sentences = [
        "退货政策很简单。",
        "收到商品后三十天内可以申请退货！",
        "请保留原包装；",
        "我们会在五个工作日内退款。",
        "如果商品有损坏，请先联系客服？",
        "客服电话全天开放。",
    ] * 3
    chunks = Splitter(embedder.tokenizer, chunk_tokens=40, overlap=8).split("".join(sentences))
    assert len(chunks) > 3
    assert all(chunk[-1] in "。！？；" for chunk in chunks)
    assert all(len(embedder.tokenizer.tokenize(chunk)) <= 40 for chunk in chunks)


def test_chunks_are_sized_in_embedding_tokens_with_overlap(embedder):
    text = " ".join(f"Sentence number {i} talks about returns and refunds." for i in range(60))
    chunks = Splitter(embedder.tokenizer, chunk_tokens=50, overlap=15).split(text)
    assert all(len(embedder.tokenizer.tokenize(chunk)) <= 50 for chunk in chunks)
    assert all(a.split(".")[-2].strip() in b for a, b in pairwise(chunks))  # the last sentence carries over


def test_markdown_sections_start_new_chunks(embedder):
    body = "Some detail about this topic that fills the section. " * 6
    text = f"# Returns\n\n{body}\n\n## Refunds\n\n{body}\n\n## Exchanges\n\n{body}"
    chunks = Splitter(embedder.tokenizer, chunk_tokens=120, overlap=0).split(text)
    assert [c.splitlines()[0] for c in chunks if c.startswith("#")] == [
        "# Returns",
        "## Refunds",
        "## Exchanges",
    ]
