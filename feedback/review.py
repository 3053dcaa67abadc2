"""The review queue: the questions editors should look at, from the conversation log. A question is flagged
when it got the fallback, was handed to a person, got a thumbs-down or failed the answer check. Flagged
questions that ask the same thing are one row (grouped as curated answers are matched: each must ask what the
other asks, knowledge/answer_match.py, or through a wording between them), most frequent first, then newest, each with the sources its answers
got, so an editor can write a curated answer for it or fix the documents retrieval should have found."""

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from core.language import detect_language
from core.settings import AnswersSettings, RetrievalSettings
from feedback.records import ChatRecord, Feedback
from knowledge.answer_match import codes, similarity, terms
from knowledge.answers import asked
from retrieval.embedding import Embedder
from retrieval.query import resolve_query

MAX_EXAMPLES = 5  # wordings and response ids shown per row


@dataclass
class ReviewRow:
    question: str  # the most recent wording
    language: str
    count: int = 0
    latest: float = 0.0  # epoch seconds of the newest
    reasons: dict[str, int] = field(default_factory=dict)  # fallback, handoff, thumbs_down, unsupported
    wordings: list[str] = field(default_factory=list)  # other ways it was asked, newest first
    sources: list[dict] = field(default_factory=list)  # what its answers cited: source, title, document_id
    response_ids: list[str] = field(default_factory=list)  # newest first
    corrected: str | None = None  # a response id whose feedback has a corrected_answer: promote it


def flags(chat: ChatRecord, feedback: Feedback | None) -> list[str]:
    """Why a logged completion needs an editor's eye ([]: it does not)."""
    grounding, handoff = chat.decisions.get("grounding") or {}, chat.decisions.get("handoff") or {}
    found = []
    if grounding.get("fallback"):
        found.append("fallback")
    if handoff and handoff.get("reason") != "fallback":
        found.append("handoff")
    if feedback is not None and feedback.rating == "down":
        found.append("thumbs_down")
    if grounding.get("answer_supported") is False:
        found.append("unsupported")
    return found


def review_queue(
    rows: list[tuple[ChatRecord, Feedback | None]],
    embedder: Embedder,
    answers: AnswersSettings,
    retrieval: RetrievalSettings,
) -> list[ReviewRow]:
    """`rows`: logged completions with their feedback, newest first (FeedbackStore.recent)."""
    flagged = []
    for chat, feedback in rows:
        why = flags(chat, feedback)
        if why:
            question = asked(resolve_query(chat.messages, retrieval))[-1].strip()
            if question:
                flagged.append((chat, feedback, why, question))
    if not flagged:
        return []
    vectors = embedder.encode([question for *_, question in flagged])
    groups: dict[int, ReviewRow] = {}
    for index, root in enumerate(_linked(flagged, vectors, answers)):
        chat, feedback, why, question = flagged[index]
        if root not in groups:  # the newest of its group: its wording names the row
            groups[root] = ReviewRow(
                question=question, language=detect_language(question), latest=chat.created
            )
        _add(groups[root], chat, feedback, why, question)
    return sorted(groups.values(), key=lambda r: (-r.count, -r.latest))


def _linked(flagged: list, vectors: np.ndarray, answers: AnswersSettings) -> list[int]:
    """Per question, the first (newest) question of its group: two questions are linked when each asks what
    the other asks by the curated-answer score and threshold of their language, and a group is what links
    reach (a wording between two others joins them)."""
    parent = list(range(len(flagged)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    questions = [question for *_, question in flagged]
    sides = [(terms(q), codes(q)) for q in questions]
    languages = [detect_language(q) for q in questions]
    cosines = vectors @ vectors.T
    least = min(answers.thresholds.values())  # the penalty only lowers a score: skip pairs below it
    for a, b in np.argwhere(np.triu(cosines >= least, 1)):
        threshold = answers.thresholds.get(languages[a])
        if languages[a] != languages[b] or threshold is None:
            continue
        cosine = float(cosines[a, b])
        scores = (
            similarity(cosine, sides[a], sides[b], answers),
            similarity(cosine, sides[b], sides[a], answers),
        )
        if all(score is not None and score >= threshold for score in scores):
            ra, rb = root(int(a)), root(int(b))
            parent[max(ra, rb)] = min(ra, rb)
    return [root(i) for i in range(len(flagged))]


def _add(row: ReviewRow, chat: ChatRecord, feedback: Feedback | None, why: list[str], question: str) -> None:
    row.count += 1
    row.reasons = dict(Counter(row.reasons) + Counter(why))
    if question != row.question and question not in row.wordings and len(row.wordings) < MAX_EXAMPLES:
        row.wordings.append(question)
    if len(row.response_ids) < MAX_EXAMPLES:
        row.response_ids.append(chat.response_id)
    known = {s.get("document_id") or s.get("source") for s in row.sources}
    for source in chat.sources:
        if (source.get("document_id") or source.get("source")) not in known:
            row.sources.append({k: source.get(k) for k in ("source", "title", "document_id")})
            known.add(source.get("document_id") or source.get("source"))
    if row.corrected is None and feedback is not None and feedback.corrected_answer:
        row.corrected = chat.response_id
