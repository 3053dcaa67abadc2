"""The conversation log off the request path: `record()` appends a row to a bounded queue and returns at
once (no lock: a deque append); one background thread masks the rows and writes them in batches. A row that
finds the queue full is dropped and counted (`dropped`), never waited for. `close()` writes what is queued.
While the database is unavailable the writer keeps its batch and tries again with backoff (the queue fills
meanwhile, up to queue_size); a row the database refuses is given up alone, never with its batch."""

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from core.errors import UnavailableError
from feedback.privacy import ephemeral_secret, mask_record
from feedback.records import ChatRecord
from feedback.store import FeedbackStore

logger = logging.getLogger(__name__)
PRUNE_EVERY_S = 3600.0  # how often rows past the retention period are deleted
_POLL_S = 0.05  # the writer looks for rows this often while the queue is empty
_RETRY_S = (0.5, 30.0)  # the writer's wait after the database failed: the first, doubled up to the last


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
        pseudonym_secret: bytes | None = None,
    ) -> None:
        """`pseudonym_secret`: feedback.privacy.pseudonym_secret's (None: one for this log only)."""
        self.store = store
        self.pseudonym_secret = pseudonym_secret or ephemeral_secret()
        self.batch_size = batch_size
        self.mask_pii, self.pii_keep = mask_pii, tuple(pii_keep)
        self.retention_days = retention_days
        self.dropped = 0  # rows refused because the queue was full
        self.written = 0
        self.failed = 0  # rows the database refused (logged, then given up)
        self.queue_size = queue_size
        self._queue: deque = deque()
        self._count_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0
        self._closing = threading.Event()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ragtune-conversation-log", daemon=True)
            self._thread.start()

    def record(self, item: ChatRecord | Assignment) -> bool:
        """Queues a row without waiting; False (and counted in `dropped`) when the queue is full."""
        if len(self._queue) >= self.queue_size:
            with self._count_lock:
                self.dropped += 1
            return False
        self._queue.append(item)
        return True

    @property
    def queued(self) -> int:
        return len(self._queue)

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until every row queued before this call is written; False on timeout or with no writer."""
        if self._thread is None or not self._thread.is_alive():
            return False
        marker = _Flush()
        self._queue.append(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Writes what is queued, then stops the writer."""
        if self._thread is None:
            return
        self._queue.append(_STOP)
        self._closing.set()  # a writer waiting for the database tries once more, then stops
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("conversation log: %d rows not written within %ss", self.queued, timeout)
        self._thread = None

    # -- the writer thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            items = self._take()
            rows = [self._masked(i) if isinstance(i, ChatRecord) else i for i in items]
            rows = [i for i in rows if isinstance(i, ChatRecord | Assignment)]
            wait = _RETRY_S[0]
            while rows:  # the database is unavailable: the batch waits, with backoff, until it is back
                rows = self._write(rows)
                if rows and self._closing.is_set():
                    self.failed += sum(isinstance(r, ChatRecord) for r in rows)
                    logger.error("conversation log: %d rows not written: database unavailable", len(rows))
                    break
                if rows:
                    self._closing.wait(wait)
                    wait = min(_RETRY_S[1], wait * 2)
            for item in items:
                if isinstance(item, _Flush):
                    item.done.set()
            self._prune()
            if any(item is _STOP for item in items):
                return

    def _take(self) -> list:
        """The next batch: what is queued, up to batch_size (a stop ends it); waits a little when empty."""
        items: list = []
        while len(items) < self.batch_size and (not items or items[-1] is not _STOP):
            try:
                items.append(self._queue.popleft())
            except IndexError:
                break
        if not items:
            time.sleep(_POLL_S)
        return items

    def _write(self, rows: list) -> list:
        """Writes the (masked) rows; returns those to try again because the database is unavailable. A
        batch the database refuses is written row by row, so that only the rows it refuses are lost."""
        try:
            self._store(rows)
            return []
        except UnavailableError as err:
            logger.warning("conversation log: %d rows wait for the database: %s", len(rows), err)
            return rows
        except Exception:  # a row the database refuses: found one by one below
            if len(rows) == 1:
                self.failed += isinstance(rows[0], ChatRecord)
                logger.exception("conversation log: a row could not be written")
                return []
        for index, row in enumerate(rows):
            if self._write([row]):
                return rows[index:]  # unavailable meanwhile: this row and the rest wait
        return []

    def _store(self, rows: list) -> None:
        chats = [r for r in rows if isinstance(r, ChatRecord)]
        assignments = [
            (a.experiment, a.user_id, a.variant, a.created) for a in rows if isinstance(a, Assignment)
        ]
        if chats:
            self.store.add_chats(chats)
        if assignments:
            self.store.add_assignments(assignments)
        self.written += len(chats)

    def _masked(self, chat: ChatRecord) -> ChatRecord:
        if not self.mask_pii:
            return chat
        masked = mask_record(chat, self.pseudonym_secret, self.pii_keep)
        time.sleep(0)  # lets the event loop's thread take the GIL between rows, not after a whole batch
        return masked

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
