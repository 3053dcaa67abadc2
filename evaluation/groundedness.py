"""Groundedness: the share of an answer's sentences supported by the context it cites.

The cited context is the `snippet` of each citation the server returned (ragtune's server sends the first
240 characters of each cited chunk, so support found further into a chunk is missed: a lower bound).
The check is an embedding similarity, documented so its numbers can be read: every answer sentence
and every sentence (and whole snippet) of the cited context is embedded with the embedder (by default the
embedded all-MiniLM-L6-v2, normalised vectors); a sentence counts as supported when its best cosine
similarity to any context unit reaches the threshold (EvaluationSettings.groundedness_threshold, 0.6).
Sentences of fewer than 3 words (e.g. "Sure!") are not judged.

Calibration (MiniLM, a returns-policy snippet): paraphrases of a context sentence score 0.7-0.94, unrelated
claims 0.2-0.3, an on-topic pleasantry 0.55, hence 0.6. It measures support by meaning, not entailment: a
claim that reuses the context's words but contradicts it ("90 days without a receipt" against "30 days
with the receipt", 0.66) still counts as supported; the judge and human ratings catch those. MiniLM was
trained on English only, so on Chinese answers the figure is indicative; the embedder is the one named in
settings.retrieval.embedding_model, so a multilingual one there serves both.
"""

import re

import numpy as np

from evaluation.metrics import tokenize
from retrieval.embedding import Embedder

_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*|\n+")
_MARKER = re.compile(r"\s*\[\d{1,3}\]")
MIN_WORDS = 3


def split_sentences(text: str) -> list[str]:
    parts = (_MARKER.sub("", part).strip() for part in _SENTENCE_END.split(text))
    return [p for p in parts if len(tokenize(p)) >= MIN_WORDS]


class GroundednessChecker:
    def __init__(self, embedder: Embedder, threshold: float):
        self.embedder = embedder
        self.threshold = threshold

    def score(self, answer: str, context: list[str]) -> float | None:
        """Share of supported sentences in [0, 1]; None when there is no context or nothing to judge."""
        sentences = split_sentences(answer)
        units = [u for text in context for u in [text.strip(), *split_sentences(text)] if u]
        if not sentences or not units:
            return None
        vectors = self.embedder.encode(sentences + units)
        similarity = vectors[: len(sentences)] @ vectors[len(sentences):].T
        return float(np.mean(similarity.max(axis=1) >= self.threshold))
