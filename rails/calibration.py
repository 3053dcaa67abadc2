"""Calibrating the grounding gate on labelled questions: each signal's ROC-AUC (answerable against not),
a threshold per signal, and its refusal accuracy and false-refusal rate under k-fold cross-validation (the
threshold chosen on k-1 folds, counted on the one left out), so the figures are not in-sample.

The threshold refuses as many unanswerable questions as it can while refusing at most
`max_false_refusal` of the answerable ones; where no threshold keeps that, the one refusing fewest
answerable questions. It sits halfway between two neighbouring scores, not on one."""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from tqdm import tqdm

from rails.grounding import SIGNALS, IdfLookup
from retrieval.types import Hit

DEFAULT_MAX_FALSE_REFUSAL = 0.05


@dataclass(frozen=True)
class Sample:
    question: str
    answerable: bool
    scores: dict[str, float]  # per signal (rails.grounding.SIGNALS)


@dataclass(frozen=True)
class SignalReport:
    signal: str
    auc: float
    threshold: float  # chosen on all samples
    refusal_accuracy: float  # unanswerable questions refused, in cross-validation
    false_refusals: float  # answerable questions refused, in cross-validation


def score_samples(
    questions: Sequence[tuple[str, bool]],
    search: Callable[[str], list[Hit]],
    idf: IdfLookup | None,
    progress: bool = False,
) -> list[Sample]:
    """Every signal for each (question, answerable), from the hits `search` returns for it."""
    samples = []
    for question, answerable in tqdm(questions, desc="searching", unit="question", disable=not progress):
        hits = search(question)
        samples.append(Sample(question, answerable, {n: f(question, hits, idf) for n, f in SIGNALS.items()}))
    return samples


def roc_auc(scores: Sequence[float], answerable: Sequence[bool]) -> float:
    """The chance that an answerable question scores above an unanswerable one (ties count half)."""
    pos = [s for s, a in zip(scores, answerable) if a]
    neg = [s for s, a in zip(scores, answerable) if not a]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def rates(scores: Sequence[float], answerable: Sequence[bool], threshold: float) -> tuple[float, float]:
    """(share of unanswerable refused, share of answerable refused); a score below the threshold refuses."""
    refused_unanswerable = [s < threshold for s, a in zip(scores, answerable) if not a]
    refused_answerable = [s < threshold for s, a in zip(scores, answerable) if a]
    return _mean(refused_unanswerable), _mean(refused_answerable)


def choose_threshold(
    scores: Sequence[float], answerable: Sequence[bool], max_false_refusal: float = DEFAULT_MAX_FALSE_REFUSAL
) -> float:
    levels = sorted(set(scores))
    candidates = [levels[0] - 1e-6] + [(a + b) / 2 for a, b in pairwise(levels)] + [levels[-1] + 1e-6]

    def merit(threshold: float) -> tuple:
        refused, false = rates(scores, answerable, threshold)
        return (false <= max_false_refusal, refused if false <= max_false_refusal else -false, -threshold)

    return round(max(candidates, key=merit), 4)


def cross_validate(
    scores: Sequence[float], answerable: Sequence[bool], folds: int = 5, seed: int = 0,
    max_false_refusal: float = DEFAULT_MAX_FALSE_REFUSAL,
) -> tuple[float, float]:
    """(refusal accuracy, false-refusal rate) over all questions, each counted in the fold left out;
    folds are stratified by label."""
    order = {True: [], False: []}
    for i, a in enumerate(answerable):
        order[bool(a)].append(i)
    rng = random.Random(seed)
    fold_of = {}
    for indices in order.values():
        rng.shuffle(indices)
        fold_of.update({i: n % folds for n, i in enumerate(indices)})
    refused = [False] * len(scores)
    for fold in range(folds):
        train = [i for i in range(len(scores)) if fold_of[i] != fold]
        threshold = choose_threshold([scores[i] for i in train], [answerable[i] for i in train], max_false_refusal)
        for i in (i for i in range(len(scores)) if fold_of[i] == fold):
            refused[i] = scores[i] < threshold
    return (
        _mean([r for r, a in zip(refused, answerable) if not a]),
        _mean([r for r, a in zip(refused, answerable) if a]),
    )


def calibrate(
    samples: Sequence[Sample], folds: int = 5, max_false_refusal: float = DEFAULT_MAX_FALSE_REFUSAL
) -> list[SignalReport]:
    """One report per signal, best AUC first."""
    labels = [s.answerable for s in samples]
    reports = []
    for signal in SIGNALS:
        scores = [s.scores[signal] for s in samples]
        refusal, false = cross_validate(scores, labels, folds, max_false_refusal=max_false_refusal)
        threshold = choose_threshold(scores, labels, max_false_refusal)
        reports.append(
            SignalReport(
                signal=signal,
                auc=roc_auc(scores, labels),
                threshold=threshold,
                refusal_accuracy=refusal,
                false_refusals=false,
            )
        )
    return sorted(reports, key=lambda r: -r.auc)


def _mean(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")
