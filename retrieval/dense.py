"""Dense index: FAISS inner product over normalised vectors, int64 ids per chunk (flat exact, or HNSW)."""

from pathlib import Path

import faiss
import numpy as np

from core.errors import RagtuneError

INDEX_TYPES = ("flat", "hnsw")


class DenseIndex:
    def __init__(self, index: faiss.Index, index_type: str):
        self.index = index
        self.index_type = index_type

    @classmethod
    def create(
        cls, dimension: int, index_type: str = "flat", hnsw_m: int = 32, ef_construction: int = 64
    ) -> "DenseIndex":
        if index_type == "flat":
            inner = faiss.IndexFlatIP(dimension)
        elif index_type == "hnsw":
            inner = faiss.IndexHNSWFlat(dimension, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = ef_construction
        else:
            raise RagtuneError(
                f"retrieval.index_type: unknown index type {index_type!r} (use one of {INDEX_TYPES})"
            )
        return cls(faiss.IndexIDMap2(inner), index_type)

    def __len__(self) -> int:
        return self.index.ntotal

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None, ef_search: int = 128
    ) -> list[tuple[int, float]]:
        """(id, cosine) best first; `allowed` restricts the search to those ids (collection, metadata)."""
        if not len(self) or k <= 0:
            return []
        params = None
        selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)) if allowed is not None else None
        if self.index_type == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(ef_search, k), sel=selector)
        elif selector is not None:
            params = faiss.SearchParameters(sel=selector)
        scores, ids = self.index.search(
            vector.reshape(1, -1).astype(np.float32), min(k, len(self)), params=params
        )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, index_type: str) -> "DenseIndex":
        return cls(faiss.read_index(str(path)), index_type)
