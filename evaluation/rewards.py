"""Verifiable rewards for a RAG answer, for online RL (`ragtune train rl`, training/rl.py): checks that need no
person, each a small function in [0, 1], or None where it does not apply to this answer:

- citation: the answer cites a source it was given ([n], core.prompt.CITATION_MARKER), one from a gold
  document where the sample knows which those are;
- grounded: the share of its sentences the sources support (rails/groundedness.py, as the answer check and
  evaluation measure it);
- key_facts: the share of the question's key facts it states (evaluation/facts.py);
- decline: it declines exactly when it should (the sources hold no answer), by evaluation's refusal
  detector (evaluation/metrics.py), which knows the fallback wording of core/language.py;
- language: it answers in the question's language (core/language.py);
- short: it stays within a length, counted in words (a Chinese character is one).

They live in evaluation/ because they are evaluation's own checks; training takes any object with `parts` and
`total` (training.rl.Reward), so the import layers hold. The total is the weighted mean of the parts that
apply, with each part's weight from training.rl_reward_weights (the recipe's `training:` section)."""

import math
from collections.abc import Callable, Mapping

from core.language import detect_language, words
from core.prompt import cited_numbers, without_citations
from evaluation.facts import missing_facts
from evaluation.metrics import is_refusal
from rails.groundedness import GroundednessChecker
from training.rl import RlSample

REWARD_PARTS = ("citation", "grounded", "key_facts", "decline", "language", "short", "reward_model")


def cites_given_source(answer: str, sample: RlSample) -> float | None:
    """Share of the answer's [n] markers that name a source it was given (a gold one where gold is known);
    0 without a marker. None when the answer should decline: there is nothing to cite."""
    if sample.should_decline or not sample.sources:
        return None
    markers = cited_numbers(answer)
    if not markers:
        return 0.0
    wanted = set(sample.gold) or set(range(1, len(sample.sources) + 1))
    return sum(n in wanted for n in markers) / len(markers)


def supported_by_sources(answer: str, sample: RlSample, checker: GroundednessChecker) -> float | None:
    """Share of the answer's sentences the sources support; None for a decline (it quotes no source) or
    when there is nothing to judge."""
    if is_refusal(answer):
        return None
    return checker.score(answer, sample.sources)


def states_key_facts(answer: str, sample: RlSample) -> float | None:
    """Share of the question's key facts the answer states; None when the question lists none."""
    if not sample.key_facts:
        return None
    return 1 - len(missing_facts(answer, sample.key_facts)) / len(sample.key_facts)


def declines_correctly(answer: str, sample: RlSample) -> float:
    """1 when the answer declines exactly when it should: the question is one the knowledge base does not
    answer, or the sources it was given hold no gold document."""
    return float(is_refusal(answer) == sample.should_decline)


def in_question_language(answer: str, sample: RlSample) -> float:
    """1 when the answer (its citations left out) is in the language of the question; 0 for an empty one."""
    text = without_citations(answer).strip()
    return float(bool(text) and detect_language(text) == detect_language(sample.question))


def short(answer: str, max_words: int) -> float:
    """1 up to max_words words, falling linearly to 0 at twice as many."""
    excess = len(words(answer)) - max_words
    return 1.0 if excess <= 0 else max(0.0, 1 - excess / max_words)


class RagReward:
    """The reward parts of one answer and their weighted mean. `reward_model(answer, sample)`, when given,
    scores in [0, 1] as one more part (training/reward_model.py, a trained reward model)."""

    def __init__(
        self,
        weights: Mapping[str, float],
        checker: GroundednessChecker,
        max_words: int,
        reward_model: Callable[[str, RlSample], float] | None = None,
    ):
        unknown = set(weights) - set(REWARD_PARTS)
        if unknown:
            raise ValueError(f"reward weights: unknown parts {', '.join(sorted(unknown))} (use {REWARD_PARTS})")
        self.weights = {part: weight for part, weight in weights.items() if weight > 0}
        self.checker, self.max_words, self.reward_model = checker, max_words, reward_model

    def parts(self, answer: str, sample: RlSample) -> dict[str, float | None]:
        """Each weighted part's score; None where it does not apply."""
        checks: dict[str, Callable[[], float | None]] = {
            "citation": lambda: cites_given_source(answer, sample),
            "grounded": lambda: supported_by_sources(answer, sample, self.checker),
            "key_facts": lambda: states_key_facts(answer, sample),
            "decline": lambda: declines_correctly(answer, sample),
            "language": lambda: in_question_language(answer, sample),
            "short": lambda: short(answer, self.max_words),
            "reward_model": lambda: self.reward_model(answer, sample) if self.reward_model else None,
        }
        return {part: checks[part]() for part in self.weights}

    def total(self, parts: Mapping[str, float | None]) -> float:
        """The weighted mean of the parts that apply (0 when none does)."""
        scored = [(self.weights[part], value) for part, value in parts.items() if value is not None]
        weight = math.fsum(w for w, _ in scored)
        return math.fsum(w * v for w, v in scored) / weight if weight else 0.0

    def __call__(self, answer: str, sample: RlSample) -> float:
        return self.total(self.parts(answer, sample))
