"""The chat service's curated-answers stage: an editor's answer, word for word, when the question (as completed
from the conversation) matches one of theirs (knowledge/answers.py stores them, knowledge/answer_match.py
matches), never a stale one unless settings allow it."""

import asyncio
import logging
from dataclasses import dataclass

from core.language import detect_language
from knowledge.answer_match import AnswerMatcher
from knowledge.answers import AnswerStore, asked, staleness
from retrieval.query import ResolvedQuery
from server.metrics import Metrics
from server.protocol import ChatCompletionRequest, Citation
from server.runtime import Runtime
from server.trust import Decisions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Curated:
    """An editor's answer for the question, word for word, and the documents it cites."""

    answer: str
    citations: list[Citation]


class CuratedAnswers:
    def __init__(self, runtime: Runtime, metrics: Metrics):
        self.rt, self.metrics = runtime, metrics
        settings = runtime.settings
        self.store = AnswerStore(
            settings.answers_dir,
            settings.knowledge.lock_timeout_s,
            settings.knowledge.keep_versions,
            lock_url=settings.feedback.database_url,
        )
        self.matcher = AnswerMatcher(self.store, lambda: runtime.kb.embedder, settings.answers)
        self._documents: tuple[int, dict[str, dict]] = (-1, {})  # (kb version, its documents by id)

    async def find(
        self,
        request: ChatCompletionRequest,
        query: ResolvedQuery,
        decisions: Decisions,
    ) -> Curated | None:
        """The curated answer for the question, in its language; a stale one (a cited document changed) only
        when answers.serve_stale. Never for a request that opts out ("curated": false)."""
        settings = self.rt.settings
        if not request.curated or not settings.answers.enabled:
            return None
        collection = request.rag.collection or settings.knowledge.default_collection
        found = await asyncio.to_thread(
            self.matcher.match, asked(query), detect_language(query.text), collection
        )
        if found is None:
            return None
        answer = found.answer
        stale = answer.sources and not settings.answers.serve_stale
        if stale and staleness(answer, await asyncio.to_thread(self._live_documents)):
            self.metrics.curated.labels("stale").inc()
            return None
        decisions.curated = {"id": answer.id, "question": found.text, "score": round(found.score, 3)}
        self.metrics.curated.labels("served").inc()
        asyncio.get_running_loop().run_in_executor(None, self._count_hit, answer.id)  # off the request path
        citations = [
            Citation(
                source=s["source"],
                title=s["title"],
                document_id=s["document_id"],
                chunk_id="",
                score=round(found.score, 3),
                snippet="",
            )
            for s in answer.sources
        ]
        return Curated(answer=answer.answer, citations=citations)

    def _live_documents(self) -> dict[str, dict]:
        """The knowledge base's live documents by id, read once per version."""
        version = self.rt.kb.version
        if self._documents[0] != version:
            self._documents = (version, {d["doc_id"]: d for d in self.rt.kb.documents()})
        return self._documents[1]

    def _count_hit(self, answer_id: str) -> None:
        try:
            self.store.record_hit(answer_id)
        except Exception as err:  # noqa: BLE001 - a hit count must never fail an answer
            logger.warning("curated answer %s: hit not counted (%s)", answer_id, err)
