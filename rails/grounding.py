"""The grounding gate: after retrieval, before generation, does the knowledge base hold an answer? If not, the
fallback ("my sources don't contain that") answers instead of a model that would invent one.

    gate = GroundingGate(settings.rails.grounding, idf=kb.idf)
    decision = gate.decide(query, hits)   # the text retrieval searched with, and its hits
    decision.answered, decision.signal, decision.score, decision.threshold, decision.reason

Retrieval finds on-topic chunks for questions the documents do not answer ("Can I rent a drone for a
weekend trip?" finds the SkyLens chunks), so a hit is no proof of an answer. The signal that separates them
best is evidence coverage: the share of the question's content terms, weighted by IDF, that one hit
contains (the best of the hits). Terms are the BM25 tokens (retrieval.text.tokenize: jieba words and their
characters for Chinese), less the words that ask rather than say what is asked about (QUESTION_WORDS), with
a light English stemming on both sides (delivered/delivery). A term absent from the whole corpus weighs the
most (the IDF of an unseen term). A product name in the question ("AeroBuds Max", "PulseBand 3") counts as
one more term, as heavy as the question's rarest, found only when the hit has the whole name.

The threshold (GroundingSettings.threshold) is calibrated on labelled questions by `ragtune rails calibrate`
(rails/calibration.py); a team recalibrates on its own questions and chooses its own false-refusal budget
with --max-false-refusal. The signals compared and why this one: docs/decisions/grounding-calibration.md.
"""

from collections.abc import Callable
from dataclasses import dataclass

from core.settings import GroundingSettings
from retrieval.evidence import IdfLookup, coverage, term_weights
from retrieval.query import ResolvedQuery
from retrieval.text import tokenize
from retrieval.types import Hit

BM25_K1 = 1.5  # bm25s' default: a term found once in an average chunk scores idf / (1 + k1)


def sparse_confidence(question: str, hits: list[Hit], idf: IdfLookup | None = None) -> float:
    """The top BM25 score over the query's own weight (what a chunk holding each term once would score)."""
    terms = list(dict.fromkeys(tokenize(question)))
    weight = sum(term_weights(terms, idf).values()) / (1 + BM25_K1)
    return max((h.sparse_score or 0.0 for h in hits), default=0.0) / weight if weight else 0.0


SIGNALS: dict[str, Callable[[str, list[Hit], IdfLookup | None], float]] = {
    "coverage": lambda question, hits, idf: coverage(question, hits, idf).share,
    "dense": lambda question, hits, idf: max((h.dense_score or 0.0 for h in hits), default=0.0),
    "sparse": sparse_confidence,
    "fused": lambda question, hits, idf: max((h.score for h in hits), default=0.0),
}


@dataclass(frozen=True)
class GroundingDecision:
    answered: bool  # False: the fallback answers
    signal: str  # which signal decided (GroundingSettings.signal), "off" or "no hits"
    score: float
    threshold: float
    reason: str  # for people: why, with what the best hit lacks


class GroundingGate:
    """Decides whether the hits answer the question; `idf` gives corpus IDF per term (KnowledgeBase.idf),
    without it every term weighs the same."""

    def __init__(self, settings: GroundingSettings, idf: IdfLookup | None = None):
        self.settings, self.idf = settings, idf

    def decide(self, question: str, hits: list[Hit]) -> GroundingDecision:
        threshold, signal = self.settings.threshold, self.settings.signal
        if not self.settings.enabled:
            return GroundingDecision(
                answered=True,
                signal="off",
                score=1.0,
                threshold=threshold,
                reason="the grounding gate is off",
            )
        if not hits:
            return GroundingDecision(
                answered=False,
                signal="no hits",
                score=0.0,
                threshold=threshold,
                reason="the knowledge base has nothing relevant",
            )
        if signal == "coverage":
            found = coverage(question, hits, self.idf)
            score, lacking = found.share, f"; the best source lacks: {', '.join(found.missing)}" * bool(found.missing)
        else:
            score, lacking = SIGNALS[signal](question, hits, self.idf), ""
        answered = score >= threshold
        verdict = "answers" if answered else "does not answer"
        reason = f"{signal} {score:.2f} {'≥' if answered else '<'} {threshold:.2f}: the knowledge base {verdict}"
        return GroundingDecision(
            answered=answered, signal=signal, score=score, threshold=threshold, reason=reason + lacking
        )

    def decide_query(self, query: ResolvedQuery, hits: list[Hit]) -> GroundingDecision:
        """A conversation's last turn as retrieval resolved it (retrieval.query.resolve_query), judged as
        completed from the conversation, or as written when that covers more: an earlier turn may add terms
        no source holds. Serving (server/trust.py) and `ragtune eval followups` both judge with this."""
        decision = self.decide(query.gated, hits)
        if query.is_follow_up and not decision.answered:
            alone = self.decide(query.question, hits)
            decision = alone if alone.score > decision.score else decision
        return decision
