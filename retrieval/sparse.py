"""Sparse index: BM25 (bm25s) over pre-tokenised chunks, with a per-query confidence in [0, 1]."""

import json
import math
from collections import Counter
from pathlib import Path

import bm25s
import numpy as np


class SparseIndex:
    def __init__(self, bm25: bm25s.BM25 | None, ids: np.ndarray, doc_freq: dict[str, int]):
        self.bm25 = bm25
        self.ids = ids  # chunk id of each BM25 row
        self.doc_freq = doc_freq

    @classmethod
    def build(cls, ids: list[int], tokens: list[list[str]]) -> "SparseIndex":
        bm25 = None
        if ids:
            bm25 = bm25s.BM25()
            bm25.index([t or [""] for t in tokens], show_progress=False)
        doc_freq = Counter(term for toks in tokens for term in set(toks))
        return cls(bm25, np.asarray(ids, dtype=np.int64), dict(doc_freq))

    def idf(self, term: str) -> float:
        n, df = len(self.ids), self.doc_freq.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(
        self, query_tokens: list[str], k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float, float]]:
        """(id, BM25 score, confidence) best first. Confidence = score over the query's own weight (what a
        chunk holding each query term once would score, unknown terms included): one common word is weak."""
        if self.bm25 is None or not query_tokens:
            return []
        scores = self.bm25.get_scores(query_tokens)
        if allowed is not None:
            scores = np.where(np.isin(self.ids, allowed), scores, 0.0)
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top])]
        # a lucene-BM25 term found once in an average-length chunk scores idf / (1 + k1)
        weight = sum(self.idf(t) for t in set(query_tokens)) / (1 + self.bm25.k1) or 1.0
        return [
            (int(self.ids[i]), float(scores[i]), min(1.0, float(scores[i]) / weight))
            for i in top
            if scores[i] > 0
        ]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "ids.npy", self.ids)
        (folder / "doc_freq.json").write_text(json.dumps(self.doc_freq, ensure_ascii=False), encoding="utf-8")
        if self.bm25 is not None:
            self.bm25.save(str(folder / "bm25"), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> "SparseIndex":
        ids = np.load(folder / "ids.npy")
        doc_freq = json.loads((folder / "doc_freq.json").read_text(encoding="utf-8"))
        bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False) if len(ids) else None
        return cls(bm25, ids, doc_freq)
