"""What retrieval returns: one ranked, citable chunk."""

from dataclasses import dataclass, field


@dataclass
class Hit:
    chunk_id: str
    doc_id: str
    text: str
    source: str  # path or url
    title: str
    position: int  # chunk number within its document
    collection: str
    metadata: dict = field(default_factory=dict)
    dense_score: float | None = None  # cosine similarity
    sparse_score: float | None = None  # BM25
    score: float = 0.0  # fused, final
    rerank_score: float | None = None
