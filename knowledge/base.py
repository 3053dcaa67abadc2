"""The knowledge base as editors and the server see it: one façade over the read path (search, documents),
the write path (add, replace, remove, sync) and the versions (list, rollback).

Errors (core.errors): RagtuneError for bad input (a file or folder, a query), NotFoundError for a missing
document or version, ConflictError for a sync that would remove too much or an ambiguous name,
UnavailableError when another writer holds the lock past knowledge.lock_timeout_s (or the database that
keeps the lock cannot be reached)."""

from pathlib import Path

import numpy as np

from core.settings import KnowledgeSettings, RetrievalSettings
from knowledge.documents import sha
from knowledge.models import Models
from knowledge.reader import Reader
from knowledge.store import Store
from knowledge.versions import Versions
from knowledge.writer import IngestReport, Writer
from retrieval.embedding import Embedder
from retrieval.types import Hit


class KnowledgeBase:
    def __init__(
        self,
        kb_dir: Path,
        knowledge: KnowledgeSettings,
        retrieval: RetrievalSettings,
        embedder: Embedder | None = None,
        lock_url: str | None = None,
    ):
        self.settings, self.retrieval = knowledge, retrieval
        self.store = Store(Path(kb_dir), knowledge.lock_timeout_s, lock_url)
        self.models = Models(retrieval, embedder)
        self._reader = Reader(self.store, retrieval, self.models)
        self._writer = Writer(self.store, knowledge, retrieval, self.models)
        self._versions = Versions(self.store)

    @classmethod
    def open(
        cls,
        kb_dir: Path,
        knowledge: KnowledgeSettings,
        retrieval: RetrievalSettings,
        embedder: Embedder | None = None,
        lock_url: str | None = None,
    ) -> "KnowledgeBase":
        """`lock_url`: a PostgreSQL database whose advisory lock serialises the writers (the feedback
        database, which every replica reaches); None: a file lock beside the knowledge base."""
        return cls(kb_dir, knowledge, retrieval, embedder, lock_url)

    @property
    def embedder(self) -> Embedder:
        return self.models.embedder

    @property
    def version(self) -> int:
        """The live version; 0 before the first change."""
        return self.store.live_version()

    # -- reading --
    def search(
        self,
        query: str,
        k: int | None = None,
        collection: str | None = None,
        filters: dict | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Ranked chunks of the live version; [] when nothing in the knowledge base is relevant enough."""
        return self._reader.search(query, k, collection, filters, mode)

    def idf(self, terms: list[str]) -> dict[str, float]:
        """Each BM25 term's inverse document frequency in the live version, a term it lacks the highest
        (rails.grounding weighs a question's terms with it); {} before the first change."""
        live = self._reader.live()
        return {term: live.sparse.idf(term) for term in terms} if live else {}

    def stored_vectors(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The vectors stored for these texts, by text (every chunk's context units are embedded when it is
        indexed: retrieval.sentences); texts never embedded here are left out."""
        by_hash = {sha(text): text for text in texts}
        model, dimension = self.retrieval.embedding_model, self.embedder.dimension
        found = self.store.catalog.cached_vectors(model, list(by_hash), dimension)
        return {by_hash[h]: vector for h, vector in found.items()}

    def documents(self, collection: str | None = None) -> list[dict]:
        """The live version's documents: id, collection, source, title, metadata, chunk count, times."""
        return self._reader.documents(collection)

    # -- versions --
    def versions(self) -> list[dict]:
        return self._versions.list()

    def rollback(self, version: int) -> None:
        self._versions.rollback(version)

    # -- writing --
    def add_document(
        self,
        filename: str,
        data: bytes,
        collection: str | None = None,
        metadata: dict | None = None,
        doc_id: str | None = None,
    ) -> str:
        return self._writer.add_document(filename, data, collection, metadata, doc_id)

    def add_paths(
        self,
        paths: list[Path],
        collection: str | None = None,
        progress: bool = True,
        metadata: dict | None = None,
    ) -> IngestReport:
        return self._writer.add_paths(paths, collection, progress, metadata)

    def sync(
        self,
        folder: Path,
        collection: str | None = None,
        progress: bool = True,
        roots: list[Path] | None = None,
        dry_run: bool = False,
        allow_mass_removal: bool = False,
    ) -> IngestReport:
        return self._writer.sync(folder, collection, progress, roots, dry_run, allow_mass_removal)

    def remove(self, doc_id: str) -> None:
        self._writer.remove(doc_id)
