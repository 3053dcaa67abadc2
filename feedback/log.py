"""The conversation log off the request path: `record()` puts a row in a bounded queue and returns at once;
one background thread masks the rows and writes them in batches. A row that finds the queue full is
dropped and counted (`dropped`), never waited for. `close()` writes what is queued."""

import logging
import queue
import threading
import time
from dataclasses import dataclass

from feedback.privacy import mask_record
from feedback.records import ChatRecord
from feedback.store import FeedbackStore

logger = logging.getLogger(__name__)
PRUNE_EVERY_S = 3600.0  # how often rows past the retention period are deleted
_IDLE_WAKE_S = 1.0


@dataclass
class Assignment:
    """A user's variant in an experiment, stored by the writer so that every replica sees it."""

    experiment: str
    user_id: str
    variant: str
    created: float


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class ConversationLog:
    def __init__(
        self,
        store: FeedbackStore,
        *,
        queue_size: int = 10000,
        batch_size: int = 500,
        mask_pii: bool = True,
        pii_keep: tuple[str, ...] = (),
        retention_days: int = 0,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.mask_pii, self.pii_keep = mask_pii, tuple(pii_keep)
        self.retention_days = retention_days
        self.dropped = 0  # rows refused because the queue was full
        self.written = 0
        self.failed = 0  # rows the database refused (logged, then given up)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._count_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ragtune-conversation-log", daemon=True)
            self._thread.start()

    def record(self, item: ChatRecord | Assignment) -> bool:
        """Queues a row without waiting; False (and counted in `dropped`) when the queue is full."""
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            with self._count_lock:
                self.dropped += 1
            return False

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until every row queued before this call is written; False on timeout or with no writer."""
        if self._thread is None or not self._thread.is_alive():
            return False
        marker = _Flush()
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 30.0) -> None:
        """Writes what is queued, then stops the writer."""
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            logger.warning(
                "conversation log: queue still full after %ss; %d rows not written", timeout, self.queued
            )
        self._thread.join(timeout)
        self._thread = None

    # -- the writer thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            items = self._take()
            rows = [i for i in items if isinstance(i, ChatRecord | Assignment)]
            if rows:
                self._write(rows)
            for item in items:
                if isinstance(item, _Flush):
                    item.done.set()
            self._prune()
            if any(item is _STOP for item in items):
                return

    def _take(self) -> list:
        """The next batch: waits for one item, then takes what is already queued, up to batch_size."""
        try:
            items = [self._queue.get(timeout=_IDLE_WAKE_S)]
        except queue.Empty:
            return []
        while len(items) < self.batch_size and items[-1] is not _STOP:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _write(self, rows: list) -> None:
        chats = [r for r in rows if isinstance(r, ChatRecord)]
        assignments = [
            (a.experiment, a.user_id, a.variant, a.created) for a in rows if isinstance(a, Assignment)
        ]
        try:
            if self.mask_pii:
                chats = [mask_record(c, self.pii_keep) for c in chats]
            if chats:
                self.store.add_chats(chats)
            if assignments:
                self.store.add_assignments(assignments)
            self.written += len(chats)
        except Exception:
            self.failed += len(chats)
            logger.exception("conversation log: %d rows could not be written", len(rows))

    def _prune(self) -> None:
        now = time.time()
        if self.retention_days <= 0 or now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        try:
            deleted = self.store.delete_before(now - self.retention_days * 86400)
            if deleted:
                logger.info(
                    "conversation log: %d conversations past %d days deleted", deleted, self.retention_days
                )
        except Exception:
            logger.exception("conversation log: deleting old conversations failed")
