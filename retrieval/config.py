"""Retrieval settings (one section of ragtune's Settings)."""

from pydantic import BaseModel


class RetrievalSettings(BaseModel):
    embedding_model: str = "all-MiniLM-L6-v2"  # embedded id, local folder or hub id
    embedding_languages: list[str] = ["en"]  # languages the embedder was trained on
    reranker_model: str | None = None  # cross-encoder; None turns reranking off
    chunk_tokens: int = 256  # chunk size in the embedding model's tokens
    chunk_overlap: int = 32
    index_type: str = "flat"  # "flat" (exact inner product) or "hnsw"
    top_k: int = 5
    min_score: float = 0.0  # fused-score threshold: below it a hit is noise
    max_query_chars: int = 2000
