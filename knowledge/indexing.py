"""A version's indexes, built in its workspace: vectors (from the embedding cache, else embedded now),
the dense index, the BM25 index, and info.json (which model and index type made them). The chunks' context
units (retrieval.sentences) are embedded into the cache too, for the answer check to find."""

import json
import sqlite3
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.settings import RetrievalSettings
from knowledge import catalog
from knowledge.documents import embed_text, sha
from knowledge.models import Models
from knowledge.store import Store
from retrieval.dense import DenseIndex
from retrieval.sentences import context_units
from retrieval.sparse import SparseIndex

EMBED_BATCH = 64


class Indexer:
    def __init__(self, store: Store, retrieval: RetrievalSettings, models: Models):
        self.store, self.retrieval, self.models = store, retrieval, models

    def vectors(self, hashes: list[str], texts: list[str], progress: bool) -> tuple[np.ndarray, int]:
        """Vectors for these chunk texts: from the cache when the text was embedded before, else embedded now.
        Returns (vectors, embedded)."""
        model, dim = self.retrieval.embedding_model, self.models.embedder.dimension
        cached = self.store.catalog.cached_vectors(model, hashes, dim)
        missing = list({h: t for h, t in zip(hashes, texts) if h not in cached}.items())
        cached.update(self._embed(missing, progress, "chunk"))
        out = np.stack([cached[h] for h in hashes]) if hashes else np.zeros((0, dim), dtype=np.float32)
        return out, len(missing)

    def _embed(self, texts: list[tuple[str, str]], progress: bool, unit: str) -> dict[str, np.ndarray]:
        """(hash, text) pairs embedded and cached batch by batch, so a killed run resumes where it stopped;
        shortest first, as a batch is padded to its longest text."""
        texts = sorted(texts, key=lambda pair: len(pair[1]))
        model, embedded = self.retrieval.embedding_model, {}
        bar = tqdm(total=len(texts), desc="embedding", unit=unit, disable=not progress or not texts)
        for start in range(0, len(texts), EMBED_BATCH):
            hashes, batch = zip(*texts[start : start + EMBED_BATCH])
            vectors = self.models.embedder.encode(list(batch), batch_size=EMBED_BATCH)
            self.store.catalog.cache_vectors(model, list(hashes), vectors)
            embedded.update(zip(hashes, vectors))
            bar.update(len(batch))
        bar.close()
        return embedded

    def build(
        self,
        db: sqlite3.Connection,
        work: Path,
        removed_ids: np.ndarray,
        new_ids: np.ndarray,
        vectors: np.ndarray,
        progress: bool,
    ) -> None:
        """Dense: the live flat index minus removed plus added chunks; rebuilt from cached vectors when HNSW,
        on a first version or a changed setting. Sparse: rebuilt from the stored tokens (no re-tokenising)."""
        r, dim = self.retrieval, self.models.embedder.dimension
        info = {"index_type": r.index_type, "model": r.embedding_model, "dimension": dim}
        base = self.store.folder(self.store.live_version())
        base_info = json.loads((base / "info.json").read_text()) if (base / "info.json").exists() else None
        if base_info == info and r.index_type == "flat":
            dense = DenseIndex.load(base / "dense.faiss", r.index_type)
            dense.remove(removed_ids)
            dense.add(new_ids, vectors)
        else:
            dense = DenseIndex.create(dim, r.index_type, r.hnsw_m, r.hnsw_ef_construction)
            ids, all_vectors = self._all_vectors(db, progress)
            dense.add(ids, all_vectors)
        dense.save(work / "dense.faiss")
        self._unit_vectors(db, progress)
        tokens = catalog.chunk_tokens(db)
        SparseIndex.build([i for i, _ in tokens], [t for _, t in tokens]).save(work / "sparse")
        (work / "info.json").write_text(json.dumps(info))

    def _all_vectors(self, db: sqlite3.Connection, progress: bool) -> tuple[np.ndarray, np.ndarray]:
        """Every chunk's id and vector; chunks the cache lacks (the model changed) are embedded now."""
        rows = catalog.chunk_hashes(db)
        dim = self.models.embedder.dimension
        cached = self.store.catalog.cached_vectors(self.retrieval.embedding_model, [h for _, h in rows], dim)
        missing = sorted({h for _, h in rows if h not in cached})
        if missing:
            texts = {h: embed_text(title, text) for h, title, text in catalog.chunk_texts(db)}
            vectors, _ = self.vectors(missing, [texts[h] for h in missing], progress)
            cached.update(zip(missing, vectors))
        ids = np.array([i for i, _ in rows], dtype=np.int64)
        return ids, np.stack([cached[h] for _, h in rows]) if rows else np.zeros((0, dim), dtype=np.float32)

    def _unit_vectors(self, db: sqlite3.Connection, progress: bool) -> None:
        """Every chunk's context units into the cache, those it lacks embedded now: the new chunks', and a
        version made before units were stored gets them all."""
        units = {sha(u): u for _, _, text in catalog.chunk_texts(db) for u in context_units(text)}
        stored = self.store.catalog.cached_hashes(self.retrieval.embedding_model, list(units))
        self._embed([(h, u) for h, u in units.items() if h not in stored], progress, "sentence")
