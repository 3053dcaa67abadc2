"""Dense (FAISS) and sparse (BM25) indexes: ids, removal, filters, persistence, confidence."""

import numpy as np
import pytest

from core.errors import RagtuneError
from core.settings import RetrievalSettings
from retrieval.dense import DenseIndex
from retrieval.hybrid import dense_weight
from retrieval.sparse import SparseIndex
from retrieval.text import tokenize


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_dense_index_finds_by_id_filters_and_survives_save(tmp_path, index_type):
    vectors = unit(np.random.default_rng(0).normal(size=(200, 16)))
    ids = np.arange(1000, 1200)
    index = DenseIndex.create(16, index_type)
    index.add(ids, vectors)
    assert index.search(vectors[7], 1)[0][0] == 1007
    allowed = np.array([1100, 1150])
    assert {i for i, _ in index.search(vectors[7], 5, allowed=allowed)} <= {1100, 1150}
    index.save(tmp_path / "d.faiss")
    assert DenseIndex.load(tmp_path / "d.faiss", index_type).search(vectors[42], 1)[0][0] == 1042


def test_flat_index_removes_only_the_changed_chunks():
    vectors = unit(np.random.default_rng(1).normal(size=(50, 8)))
    index = DenseIndex.create(8, "flat")
    index.add(np.arange(50), vectors)
    index.remove(np.array([3]))
    assert len(index) == 49
    assert index.search(vectors[3], 1)[0][0] != 3
    assert index.search(vectors[4], 1)[0][0] == 4


def test_unknown_index_type_is_a_clear_error():
    with pytest.raises(RagtuneError, match="index_type"):
        DenseIndex.create(8, "ivf")


def test_bm25_matches_codes_and_rates_weak_matches_low(tmp_path):
    texts = [
        "Order NW-1001 shipped to Berlin",
        "Order NW-1002 delivered to Paris",
        "Warranty covers two years",
        "Returns within thirty days",
        "Payment by card or invoice",
    ]
    index = SparseIndex.build(list(range(10, 15)), [tokenize(t) for t in texts])
    index.save(tmp_path / "s")
    index = SparseIndex.load(tmp_path / "s")
    best = index.search(tokenize("where is order NW-1002"), 3)
    assert best[0][0] == 11 and best[0][2] > 0.5
    weak = index.search(tokenize("order a pizza with extra mozzarella tonight"), 3)
    assert all(conf < 0.5 for _, _, conf in weak)  # one shared common word is not relevance
    assert index.search(tokenize("where is order NW-1002"), 3, allowed=np.array([10, 12]))[0][0] == 10


def test_dense_is_weighted_down_for_languages_the_embedder_does_not_know():
    english_only = RetrievalSettings(embedding_languages=["en"])
    assert dense_weight("how do I return an item", english_only) == 1.0
    assert dense_weight("怎么退货", english_only) == english_only.foreign_dense_weight < 1.0
    assert dense_weight("怎么退货", RetrievalSettings(embedding_languages=["multilingual"])) == 1.0
