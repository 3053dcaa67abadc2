"""Hybrid search: dense + BM25 candidates, reciprocal-rank fusion weighted by language and confidence, and a
relevance floor so a question outside the knowledge base gets no hits."""

import threading
from dataclasses import dataclass

import numpy as np

from core.errors import RagtuneError
from core.language import script_language
from core.settings import RetrievalSettings
from retrieval.dense import DenseIndex
from retrieval.embedding import Embedder
from retrieval.sparse import SparseIndex
from retrieval.text import tokenize


@dataclass
class Candidate:
    id: int
    dense: float | None = None  # cosine
    sparse: float | None = None  # BM25
    sparse_confidence: float = 0.0
    score: float = 0.0  # fused


def check_query(query: str, settings: RetrievalSettings) -> str:
    query = query.strip()
    if not query:
        raise RagtuneError("search: the query is empty")
    if len(query) > settings.max_query_chars:
        raise RagtuneError(
            f"search: the query is {len(query)} characters long; the limit is {settings.max_query_chars} "
            "(retrieval.max_query_chars)"
        )
    return query


def dense_weight(query: str, settings: RetrievalSettings) -> float:
    """1 when the embedder was trained on the query's language, else foreign_dense_weight."""
    known = {lang.lower() for lang in settings.embedding_languages}
    return 1.0 if "multilingual" in known or script_language(query) in known else settings.foreign_dense_weight


def hybrid_search(
    query: str,
    embedder: Embedder,
    dense: DenseIndex,
    sparse: SparseIndex,
    settings: RetrievalSettings,
    k: int,
    allowed: np.ndarray | None = None,
    mode: str = "hybrid",
) -> list[Candidate]:
    """Best-first candidates that some signal vouches for. mode: hybrid, or dense / sparse alone (to compare).

    Reciprocal-rank fusion, with each signal's share weighted by its trust in the query's language and its
    confidence on this query (its best score against its floor), and each chunk's share by its own score in
    [0, 1] (cosine; BM25 over the query's weight): a signal that barely matches cannot outvote one that does,
    and an exact code match is not outranked by a chunk that is merely second on both lists.
    """
    query = check_query(query, settings)
    language_weight = dense_weight(query, settings)
    dense_floor = settings.min_dense_score
    sparse_floor = settings.min_sparse_score if language_weight == 1.0 else settings.min_sparse_score_foreign
    dense_found = sparse_found = []
    if mode != "sparse":
        vector = embedder.encode_query(query)
        dense_found = dense.search(vector, settings.candidates, allowed, settings.hnsw_ef_search)
    if mode != "dense":
        sparse_found = sparse.search(tokenize(query), settings.candidates, allowed)
    w_dense = 1.0 if mode == "dense" else language_weight
    if dense_found:
        w_dense *= min(1.0, max(dense_found[0][1], 0.0) / dense_floor)
    w_sparse = min(1.0, sparse_found[0][2] / sparse_floor) if sparse_found else 0.0

    found: dict[int, Candidate] = {}
    vouched: set[int] = set()
    for rank, (cid, cos) in enumerate(dense_found):
        cand = found.setdefault(cid, Candidate(id=cid))
        cand.dense = cos
        cand.score += w_dense * max(cos, 0.0) / (settings.rrf_k + rank + 1)
        if cos >= dense_floor and (language_weight == 1.0 or mode == "dense"):
            vouched.add(cid)
    for rank, (cid, bm25, confidence) in enumerate(sparse_found):
        cand = found.setdefault(cid, Candidate(id=cid))
        cand.sparse, cand.sparse_confidence = bm25, confidence
        cand.score += w_sparse * confidence / (settings.rrf_k + rank + 1)
        if confidence >= sparse_floor:
            vouched.add(cid)
    ranked = sorted((found[cid] for cid in vouched), key=lambda c: c.score, reverse=True)
    return ranked[:k]


class Reranker:
    """Optional cross-encoder: rescored (query, chunk) pairs decide the final order."""

    def __init__(self, model_name: str):
        from sentence_transformers import CrossEncoder

        from retrieval.embedding import resolve_embedding_model

        self.model = CrossEncoder(resolve_embedding_model(model_name), device="cpu")
        self._lock = threading.Lock()  # its fast tokenizer is not safe to share between threads

    def scores(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        with self._lock:
            return [float(s) for s in self.model.predict([(query, t) for t in texts])]
