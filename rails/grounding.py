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

Calibration (`ragtune rails calibrate`, rails/calibration.py), on examples/eval/validation.jsonl: 106
questions written from the demo documents (65 answerable, 41 on-topic but unanswerable; English and
Chinese), demo knowledge base, default retrieval settings. ROC-AUC per signal (answerable vs not):
coverage 0.90, top BM25 over the query's weight 0.78, fused 0.73, dense cosine 0.70 (rarest term found:
0.69; coverage over all hits together 0.86; a logistic combination with dense 0.89 in 5-fold CV and word-
embedding soft matching of missing terms 0.91: no gain worth their cost). No cross-encoder ships inside a
PyPI package (flashrank and the others download their weights at run time), so none was tried. The chat
model's own probability of beginning its answer with the decline wording, given the RAG prompt: AUC 0.49 to
0.61 (the demo adapter's 0.50 to 0.53 on its validation split), nothing added to coverage in a combination.
The threshold refuses as many unanswerable questions as it can with at most 5% of answerable ones refused:
0.38, refusing 51% of the unanswerable and 4% of the answerable in-sample, 34% and 5% in 5-fold CV (mean
of 5 seeds). Coverage cannot reach 90% refusals without refusing a quarter of the answerable questions
(CV: cap 10%: 61% / 11%; 15%: 71% / 15%; 25%: 89% / 25%): near misses that share every word but one with a
document ("What is the maximum altitude of the SkyLens Mini?") score like paraphrased answerable questions.
The answer check (rails/groundedness.py) does not separate them either on the embedded 135M model, which
strays from its sources on answerable questions too (support share of its answers: AUC 0.64; replacing
answers below 0.5 support refused about 20% more of the answerable questions), hence answer_check "flag" by default.
A team recalibrates on its own questions with `ragtune rails calibrate --questions FILE` (and chooses its
own budget with --max-false-refusal).
"""

from collections.abc import Callable
from dataclasses import dataclass

from core.settings import GroundingSettings
from retrieval.evidence import IdfLookup, coverage, term_weights
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
            return GroundingDecision(True, "off", 1.0, threshold, "the grounding gate is off")
        if not hits:
            return GroundingDecision(False, "no hits", 0.0, threshold, "the knowledge base has nothing relevant")
        if signal == "coverage":
            found = coverage(question, hits, self.idf)
            score, lacking = found.share, f"; the best source lacks: {', '.join(found.missing)}" * bool(found.missing)
        else:
            score, lacking = SIGNALS[signal](question, hits, self.idf), ""
        answered = score >= threshold
        verdict = "answers" if answered else "does not answer"
        reason = f"{signal} {score:.2f} {'≥' if answered else '<'} {threshold:.2f}: the knowledge base {verdict}"
        return GroundingDecision(answered, signal, score, threshold, reason + lacking)
