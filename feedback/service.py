"""What the server keeps in `app.state.feedback`: the conversation log, feedback, experiments and export on
one database, built from settings. With `feedback.enabled` off nothing is logged, no experiment runs, and
feedback, experiment admin and export answer 503."""

import asyncio
import time
from pathlib import Path

from core.errors import NotFoundError, UnavailableError
from core.settings import AnswersSettings, FeedbackSettings, PiiSettings, RetrievalSettings
from feedback.experiments import Assigned, Experiments
from feedback.export import ExportFilter, ExportResult, export
from feedback.log import ConversationLog
from feedback.privacy import pseudonym_secret
from feedback.ratings import add_feedback
from feedback.records import ChatRecord, Feedback
from feedback.review import ReviewRow, review_queue
from feedback.store import FeedbackStore, open_store

CATCH_UP_S = 2.0  # feedback on a response the writer has not stored yet waits this long for it


class FeedbackService:
    """`home`: where the SQLite database and exports go when no database URL is set."""

    def __init__(self, config: FeedbackSettings, pii: PiiSettings, home: Path) -> None:
        self.config, self.pii, self.home = config, pii, Path(home)
        self.store: FeedbackStore | None = None
        self.log: ConversationLog | None = None
        self._experiments: Experiments | None = None

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def start(self) -> "FeedbackService":
        """Opens (and migrates) the database and starts the writer; blocking: call it off the event loop."""
        if not self.enabled or self.store is not None:
            return self
        config, pii = self.config, self.pii
        self.store = open_store(config, self.home)  # feedback, experiments, export
        self.log = ConversationLog(
            open_store(config, self.home),  # the writer's own connection
            queue_size=config.queue_size,
            batch_size=config.batch_size,
            mask_pii=pii.mask_in_log,
            pii_keep=tuple(pii.keep),
            retention_days=config.retention_days,
            pseudonym_secret=pseudonym_secret(pii, self.home),
        )
        self.log.start()
        self._experiments = Experiments(
            self.store, self.log, refresh_s=config.experiments_refresh_s, pseudonymise=pii.mask_in_log
        )
        return self

    def close(self) -> None:
        """Writes the queued rows, stops the writer and closes the database."""
        if self.log is not None:
            self.log.close()
            self.log.store.close()
        if self.store is not None:
            self.store.close()
        self.store = self.log = self._experiments = None

    # -- the chat service's calls (never raise, never wait) ------------------------------------------
    def record(self, record: ChatRecord) -> bool:
        """Queues one completion for the log; False when logging is off or the row was dropped."""
        return self.log.record(record) if self.log is not None else False

    def assign(self, model: str, user_id: str | None) -> Assigned | None:
        """The experiment variant for this request, or None (no experiment for `model`, or feedback off).
        Reads the database on a cache miss (a new user, experiments due for a refresh)."""
        return self._experiments.assign(model, user_id) if self._experiments is not None else None

    async def assign_async(self, model: str, user_id: str | None) -> Assigned | None:
        """assign() for the event loop: a database read, when one is needed, runs in a worker thread."""
        experiments = self._experiments
        if experiments is not None and experiments.needs_database(model, user_id):
            return await asyncio.to_thread(experiments.assign, model, user_id)
        return self.assign(model, user_id)

    @property
    def dropped(self) -> int:
        """Rows dropped because the log's queue was full (for /metrics)."""
        return self.log.dropped if self.log is not None else 0

    # -- routes and CLI ------------------------------------------------------------------------------
    @property
    def experiments(self) -> Experiments:
        if self._experiments is None:
            raise UnavailableError(_off("experiments"))
        return self._experiments

    def add_feedback(
        self,
        response_id: str,
        rating: str,
        reason: str | None = None,
        corrected_answer: str | None = None,
        preferred_over: str | None = None,
        client: str | None = None,
    ) -> Feedback:
        """`client`: the client key's name, which may rate only its own responses (None: any)."""
        return add_feedback(
            self._store("feedback"),
            response_id,
            rating,
            reason,
            corrected_answer,
            preferred_over,
            mask_pii=self.pii.mask_in_log,
            pii_keep=tuple(self.pii.keep),
            catch_up=lambda: self.log.flush(CATCH_UP_S),
            client=client,
        )

    def export(self, out: Path | None = None, where: ExportFilter | None = None) -> ExportResult:
        """Training files from the feedback; `out` defaults to RAGTUNE_HOME/exports/<time>."""
        out = out or self.home / "exports" / time.strftime("%Y%m%d-%H%M%S")
        return export(
            self._store("export"),
            out,
            where,
            mask_pii=self.pii.mask_in_log,
            pii_keep=tuple(self.pii.keep),
        )

    def correction(self, response_id: str) -> tuple[ChatRecord, str]:
        """A logged response and the staff correction given on it (to make it a curated answer);
        NotFoundError when either is missing."""
        store = self._store("corrections")
        chat, feedback = store.get_chat(response_id), store.get_feedback(response_id)
        if chat is None:
            raise NotFoundError(f"response_id '{response_id}' is not in the conversation log", param="response_id")
        if feedback is None or not feedback.corrected_answer:
            raise NotFoundError(
                f"response_id '{response_id}' has no corrected_answer in its feedback (POST /v1/feedback)",
                param="response_id",
            )
        return chat, feedback.corrected_answer

    def review(
        self, embedder, answers: AnswersSettings, retrieval: RetrievalSettings, days: float = 30, limit: int = 5000
    ) -> list[ReviewRow]:
        """The review queue of the last `days` (at most `limit` logged completions read): feedback/review.py."""
        rows = self._store("review").recent(time.time() - days * 86400, limit)
        return review_queue(rows, embedder, answers, retrieval)

    def _store(self, what: str) -> FeedbackStore:
        if self.store is None:
            raise UnavailableError(_off(what))
        return self.store


def _off(what: str) -> str:
    return f"{what}: the feedback database is off (settings feedback.enabled) or not started"
