"""Groundedness: the share of an answer's sentences supported by the sources, and the answer check the chat
service runs after generation.

The check is an embedding similarity, documented so its numbers can be read: every answer sentence and
every sentence (and whole text) of the context is embedded with the embedder (by default the embedded
all-MiniLM-L6-v2, normalised vectors); a sentence counts as supported when its best cosine similarity to
any context unit reaches the threshold (0.6: EvaluationSettings.groundedness_threshold for reports,
GroundingSettings.answer_sentence_threshold for serving). Sentences of fewer than 3 words ("Sure!") are not
judged.

Why 0.6: docs/decisions/answer-check-cost.md. It measures support by meaning, not entailment, so a claim
that reuses the context's words but contradicts it still counts as supported; the judge and human ratings
catch those. MiniLM was trained on English only, so on Chinese answers the figure is indicative; the embedder
is the one named in settings.retrieval.embedding_model, so a multilingual one there serves both.

Evaluation reports score the `snippet` of each citation the server returned (the first 240 characters of
a chunk: a lower bound); the serving check (`AnswerCheck`) scores the kept sources' full text:

    check = AnswerCheck(kb.embedder, settings.rails.grounding, kb.stored_vectors)
    support = check.check(answer, [hit.text for hit in kept_hits])
    support.supported, support.share, support.threshold   # share None: nothing to judge (supported)
    answer = final_answer(answer, support, settings.rails.grounding.answer_check, rails.texts, question)
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.settings import GroundingSettings
from rails.language import Texts
from retrieval.embedding import Embedder
from retrieval.sentences import context_units, split_sentences

# Vectors stored for texts (knowledge.KnowledgeBase.stored_vectors: every chunk's units, embedded when it was
# indexed), by text; those it lacks are left out.
StoredVectors = Callable[[list[str]], dict[str, np.ndarray]]
# Context units kept embedded (1.5 KB each): the same sources come back request after request.
_CACHED_UNITS = 4096


class GroundednessChecker:
    """Context units are looked up in memory, then in the stored vectors; only what neither has is embedded,
    with the answer's sentences, on one thread (Embedder.encode_for_check): the check runs on the cores the
    chat engine computes on."""

    def __init__(self, embedder: Embedder, threshold: float, stored: StoredVectors | None = None):
        self.embedder = embedder
        self.threshold = threshold
        self.stored = stored
        self._units: OrderedDict[str, np.ndarray] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def _unit_vectors(self, units: list[str]) -> np.ndarray:
        """The context units' vectors: from the cache, the stored vectors, the others embedded now."""
        with self._lock:
            known = {u: self._units[u] for u in units if u in self._units}
        missing = [u for u in dict.fromkeys(units) if u not in known]
        if missing and self.stored is not None:
            known.update(self.stored(missing))
            missing = [u for u in missing if u not in known]
        if missing:
            known.update(zip(missing, self.embedder.encode_for_check(missing)))
        with self._lock:
            for unit in dict.fromkeys(units):
                self._units[unit] = known[unit]
                self._units.move_to_end(unit)
            while len(self._units) > _CACHED_UNITS:
                self._units.popitem(last=False)
        return np.stack([known[u] for u in units])

    def supported(self, answer: str, context: list[str]) -> list[tuple[str, bool]]:
        """Each judged sentence of the answer and whether the context supports it; [] when there is no
        context or nothing to judge."""
        sentences = split_sentences(answer)
        units = [u for text in context for u in context_units(text)]
        if not sentences or not units:
            return []
        similarity = self.embedder.encode_for_check(sentences) @ self._unit_vectors(units).T
        return list(zip(sentences, (similarity.max(axis=1) >= self.threshold).tolist()))

    def score(self, answer: str, context: list[str]) -> float | None:
        """Share of supported sentences in [0, 1]; None when there is no context or nothing to judge."""
        judged = self.supported(answer, context)
        return float(np.mean([ok for _, ok in judged])) if judged else None


@dataclass(frozen=True)
class AnswerSupport:
    supported: bool  # False: the share of supported sentences is below the threshold
    share: float | None  # supported sentences / judged sentences; None: nothing to judge
    threshold: float
    unsupported: list[str]  # the sentences no source supports


class AnswerCheck:
    """After generation: is the answer supported by the sources it was given (their full text)?"""

    def __init__(self, embedder: Embedder, settings: GroundingSettings, stored: StoredVectors | None = None):
        self.settings = settings
        self.checker = GroundednessChecker(embedder, settings.answer_sentence_threshold, stored)

    def check(self, answer: str, sources: list[str]) -> AnswerSupport:
        judged = self.checker.supported(answer, sources)
        share = float(np.mean([ok for _, ok in judged])) if judged else None
        threshold = self.settings.answer_min_support
        return AnswerSupport(
            supported=share is None or share >= threshold,
            share=share,
            threshold=threshold,
            unsupported=[s for s, ok in judged if not ok],
        )


def final_answer(answer: str, support: AnswerSupport, mode: str, texts: Texts, question: str) -> str:
    """What the user gets after the check (GroundingSettings.answer_check): an unsupported answer replaced by
    the fallback ("replace") or followed by the notice ("notice"); otherwise ("off", "flag") the answer."""
    if support.supported or mode in ("off", "flag"):
        return answer
    if mode == "replace":
        return texts.for_text("fallback", question)
    return f"{answer.rstrip()}\n\n{texts.for_text('unsupported', question)}"
