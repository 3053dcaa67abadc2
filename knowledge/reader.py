"""The read path: hybrid search and the documents list, over the live version (reloaded when another
process publishes a newer one)."""

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import RagtuneError
from core.settings import RetrievalSettings
from knowledge import catalog
from knowledge.models import Models
from knowledge.store import Store
from retrieval.dense import DenseIndex
from retrieval.hybrid import Candidate, check_query, hybrid_search
from retrieval.sparse import SparseIndex
from retrieval.types import Hit


@dataclass
class LiveIndex:
    version: int
    folder: Path
    dense: DenseIndex
    sparse: SparseIndex

    @contextmanager
    def meta(self) -> Iterator[sqlite3.Connection]:
        with catalog.connect(self.folder / "meta.sqlite", readonly=True) as db:
            yield db


class Reader:
    def __init__(self, store: Store, retrieval: RetrievalSettings, models: Models):
        self.store, self.retrieval, self.models = store, retrieval, models
        self._live: LiveIndex | None = None
        self._reload = threading.Lock()

    def live(self) -> LiveIndex | None:
        """The live version's indexes; one small file read when nothing changed."""
        version = self.store.live_version()
        if self._live is None or self._live.version != version:
            with self._reload:
                if self._live is not None and self._live.version == version:
                    return self._live  # another search loaded it while this one waited
                self._live = self._load(version) if version else None
        return self._live

    def _load(self, version: int) -> LiveIndex:
        folder = self.store.folder(version)
        info = json.loads((folder / "info.json").read_text())
        if info["model"] != self.retrieval.embedding_model:
            raise RagtuneError(
                f"knowledge base {self.store.root}: version {version} was embedded with "
                f"{info['model']!r} but retrieval.embedding_model is {self.retrieval.embedding_model!r}; "
                "set it back, or run any change (kb add / sync) to re-embed with the new model"
            )
        dense = DenseIndex.load(folder / "dense.faiss", info["index_type"])
        return LiveIndex(
            version=version, folder=folder, dense=dense, sparse=SparseIndex.load(folder / "sparse")
        )

    def search(
        self,
        query: str,
        k: int | None = None,
        collection: str | None = None,
        filters: dict | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Ranked chunks of the live version; [] when nothing in the knowledge base is relevant enough."""
        k = k or self.retrieval.top_k
        check_query(query, self.retrieval)
        live = self.live()
        if live is None:
            return []
        with live.meta() as db:
            allowed = _allowed_ids(db, collection, filters)
            if allowed is not None and not len(allowed):
                return []
            pool = k * 3 if self.retrieval.reranker_model else k
            found = hybrid_search(
                query, self.models.embedder, live.dense, live.sparse, self.retrieval, pool, allowed, mode
            )
            hits = _hits(db, found)
        if hits and (reranker := self.models.reranker):
            for hit, score in zip(hits, reranker.scores(query, [h.text for h in hits])):
                hit.rerank_score = score
            hits.sort(key=lambda h: h.rerank_score, reverse=True)
        return hits[:k]

    def documents(self, collection: str | None = None) -> list[dict]:
        live = self.live()
        if live is None:
            return []
        with live.meta() as db:
            return catalog.list_documents(db, collection)


def _allowed_ids(db: sqlite3.Connection, collection: str | None, filters: dict | None) -> np.ndarray | None:
    """Chunk ids of the documents in the collection that match every filter; None: no restriction."""
    if collection is None and not filters:
        return None
    docs = [
        d.doc_id
        for d in catalog.stored_documents(db, collection)
        if all(_matches(_fields(d).get(key), value) for key, value in (filters or {}).items())
    ]
    return catalog.chunk_ids(db, docs)


def _fields(doc: catalog.StoredDocument) -> dict:
    return {**doc.metadata, "title": doc.title, "source": doc.source, "collection": doc.collection}


def _matches(have, want) -> bool:
    """A filter value matches a field equal to it, or a list field containing it (tags)."""
    if isinstance(have, list):
        return want in have or (isinstance(want, list) and set(want) <= set(have))
    return have is not None and str(have) == str(want)


def _hits(db: sqlite3.Connection, found: list[Candidate]) -> list[Hit]:
    rows = catalog.hit_rows(db, [c.id for c in found])
    return [
        Hit(
            chunk_id=str(c.id),
            doc_id=r["doc_id"],
            text=r["text"],
            source=r["source"],
            title=r["title"],
            position=r["position"],
            collection=r["collection"],
            metadata=r["metadata"],
            dense_score=c.dense,
            sparse_score=c.sparse,
            score=c.score,
        )
        for c in found
        if (r := rows.get(c.id))
    ]
