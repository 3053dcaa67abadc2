"""Retrieval settings (one section of ragtune's Settings)."""

from pydantic import BaseModel


class RetrievalSettings(BaseModel):
    embedding_model: str = "all-MiniLM-L6-v2"  # embedded id, local folder or hub id
    embedding_languages: list[str] = ["en"]  # languages the embedder was trained on ("multilingual": all)
    reranker_model: str | None = None  # cross-encoder; None turns reranking off
    chunk_tokens: int = 200  # chunk size in the embedding model's tokens
    chunk_overlap: int = 32
    index_type: str = "flat"  # "flat" (exact inner product) or "hnsw"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 64
    hnsw_ef_search: int = 256
    top_k: int = 5
    candidates: int = 50  # per signal, before fusion
    rrf_k: int = 60
    # A chunk is a hit only if a signal vouches for it: cosine of a dense signal that knows the query's
    # language, or BM25 normalised by the query's own weight (share of the query's IDF the chunk matches).
    min_dense_score: float = 0.35
    min_sparse_score: float = 0.5
    min_sparse_score_foreign: float = 0.2  # when BM25 is the only signal that knows the query's language
    foreign_dense_weight: float = 0.25  # dense weight when the embedder does not know the query's language
    max_query_chars: int = 2000
