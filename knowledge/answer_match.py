"""Which curated answer, if any, a customer's question asks for: a hybrid match over each answer's question
and paraphrases in the question's language.

score = cosine of the knowledge base's embeddings − unmatched_penalty × (share of the question's BM25 tokens
that the curated text lacks). The cosine finds paraphrases ("When will I get my refund?" for "How long does
a refund take?"); the penalty keeps out a question that asks more ("How long do refunds take for Gold
members?"): its extra words are a condition the curated answer was not written for. A product or error code
must be the same on both sides (E-117 is not E-204). The thresholds per language are calibrated on
examples/eval/curated_validation.jsonl: docs/decisions/curated-answers.md."""

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.settings import AnswersSettings
from knowledge.answers import CODE, AnswerStore, CuratedAnswer
from retrieval.embedding import Embedder
from retrieval.text import tokenize


@dataclass(frozen=True)
class Match:
    answer: CuratedAnswer
    text: str  # the question or paraphrase it matched
    score: float


@dataclass
class _Entry:
    answer: CuratedAnswer
    text: str
    tokens: frozenset[str]
    codes: frozenset[str]


def terms(text: str) -> frozenset[str]:
    """BM25 tokens with an English plural's s dropped, so "refunds" meets "refund"."""
    return frozenset(t[:-1] if len(t) > 3 and t.endswith("s") and t.isascii() else t for t in tokenize(text))


def codes(text: str) -> frozenset[str]:
    return frozenset(code.upper().replace("-", "") for code in CODE.findall(text))


def similarity(
    cosine: float,
    question: tuple[frozenset, frozenset],
    text: tuple[frozenset, frozenset],
    settings: AnswersSettings,
) -> float | None:
    """How well `text` (its terms and codes) asks what `question` asks, given their embeddings' cosine;
    None when their codes differ."""
    (asked, asked_codes), (tokens, text_codes) = question, text
    if asked_codes != text_codes:
        return None
    unmatched = len(asked - tokens) / len(asked) if asked else 0.0
    return float(cosine) - settings.unmatched_penalty * unmatched


class AnswerMatcher:
    """Reloads the store when its file changed (any replica's edit) before matching; thread-safe."""

    def __init__(self, store: AnswerStore, embedder: Callable[[], Embedder], settings: AnswersSettings):
        self.store, self.embedder, self.settings = store, embedder, settings
        self._stamp: tuple | None = ()
        # (language -> entries, language -> one vector per entry), replaced whole: a reader takes both at once
        self._index: tuple[dict[str, list[_Entry]], dict[str, np.ndarray]] = ({}, {})
        self._cache: dict[str, np.ndarray] = {}  # text -> vector, so a reload embeds only new texts
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._lock:
            stamp = self.store.stamp()
            if stamp == self._stamp:
                return
            entries: dict[str, list[_Entry]] = {}
            for answer in self.store.all():
                for text in answer.texts():
                    entry = _Entry(answer=answer, text=text, tokens=terms(text), codes=codes(text))
                    entries.setdefault(answer.language, []).append(entry)
            texts = [e.text for group in entries.values() for e in group if e.text not in self._cache]
            if texts:
                self._cache.update(zip(texts, self.embedder().encode(texts), strict=True))
            live = {e.text for group in entries.values() for e in group}
            self._cache = {text: vector for text, vector in self._cache.items() if text in live}
            vectors = {
                lang: np.stack([self._cache[e.text] for e in group]) for lang, group in entries.items()
            }
            self._index, self._stamp = (entries, vectors), stamp

    def candidates(self, question: str, language: str, collection: str | None = None) -> list[Match]:
        """Every curated answer of that language (and collection) with its best score, best first."""
        self.refresh()
        by_language, vectors_by_language = self._index
        entries, vectors = by_language.get(language, []), vectors_by_language.get(language)
        if not entries or not question.strip():
            return []
        cosines = vectors @ self.embedder().encode_query(question)
        asked, asked_codes = terms(question), codes(question)
        best: dict[str, Match] = {}
        for entry, cosine in zip(entries, cosines, strict=True):
            if collection is not None and entry.answer.collection not in (None, collection):
                continue
            score = similarity(cosine, (asked, asked_codes), (entry.tokens, entry.codes), self.settings)
            if score is None:
                continue
            if entry.answer.id not in best or score > best[entry.answer.id].score:
                best[entry.answer.id] = Match(entry.answer, entry.text, score)
        return sorted(best.values(), key=lambda m: -m.score)

    def match(self, questions: list[str], language: str, collection: str | None = None) -> Match | None:
        """The best curated answer for any of the questions (one question written several ways), if it
        scores at least the language's threshold."""
        threshold = self.settings.thresholds.get(language)
        found = [m for question in questions for m in self.candidates(question, language, collection)[:1]]
        best = max(found, key=lambda m: m.score, default=None)
        return best if best is not None and threshold is not None and best.score >= threshold else None
