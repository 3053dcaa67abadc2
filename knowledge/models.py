"""The models a knowledge base uses, each loaded once on first use (concurrent first uses wait for it)."""

import threading

from core.settings import RetrievalSettings
from retrieval.embedding import Embedder
from retrieval.hybrid import Reranker
from retrieval.splitting import Splitter


class Models:
    def __init__(self, retrieval: RetrievalSettings, embedder: Embedder | None = None):
        self.retrieval = retrieval
        self._embedder = embedder
        self._reranker: Reranker | None = None
        self._load = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        with self._load:
            if self._embedder is None:
                self._embedder = Embedder(self.retrieval.embedding_model)
        return self._embedder

    @property
    def reranker(self) -> Reranker | None:
        """The cross-encoder, or None when retrieval.reranker_model is not set."""
        if not self.retrieval.reranker_model:
            return None
        with self._load:
            if self._reranker is None:
                self._reranker = Reranker(self.retrieval.reranker_model)
        return self._reranker

    def splitter(self) -> Splitter:
        """A splitter for this thread: it counts tokens with the thread's own copy of the tokenizer."""
        return Splitter(self.embedder.tokenizer, self.retrieval.chunk_tokens, self.retrieval.chunk_overlap)
