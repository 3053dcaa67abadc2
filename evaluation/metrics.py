"""Per-answer metrics that need no model: overlap with the reference, retrieval quality from the returned
citations, citation correctness, refusals, length. Chinese text is scored character by character."""

import re
from pathlib import PurePosixPath

from rouge_score import rouge_scorer
from sacrebleu.metrics import CHRF

from core.language import DECLINE, words
from core.prompt import cited_numbers

# Phrases only a declining answer uses. Verbs a customer also does ("if you're unable to find a courier") count
# only with the assistant as subject, and a product "not available in Japan" or an apology before an answer
# ("I'm sorry, but returns close after 30 days") is an answer, not a refusal.
REFUSAL_PHRASES = (
    *(decline.lower() for decline in DECLINE.values()),  # the fallback the server and RAFT use
    "no information", "not have information", "not have that information", "don't have information",
    "not in the sources", "not in my sources", "sources do not contain", "sources don't contain",
    "no relevant source", "not mentioned in", "i'm not sure", "i am not sure",
    "不知道", "没有相关", "没有找到", "未找到", "找不到", "无法回答", "无法提供", "无法找到", "不清楚",
    "没有这方面", "没有该信息", "没有此信息", "资料中没有", "来源中没有",
)
_ASSISTANT_DECLINES = re.compile(
    r"\b(?:i|we)(?:'m| am|'re| are)? (?:(?:un|not )able to|can't|cannot|could not|couldn't|do not|don't) "
    r"(?:find|answer|help|assist|know|have (?:any |that |the |this )?(?:information|details|data))"
)


def tokenize(text: str) -> list[str]:
    """One token per CJK character, otherwise runs of letters/digits (core.language.words)."""
    return words(text)


class _Tokenizer:
    """rouge-score's own tokenizer drops every non-ASCII character; this one keeps CJK, one per token."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


_ROUGE = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokenizer())
_CHRF = CHRF()


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F1 in [0, 1]."""
    return _ROUGE.score(reference, answer)["rougeL"].fmeasure


def chrf(answer: str, reference: str) -> float:
    """chrF in [0, 100]; character n-grams, so Chinese needs no word splitting."""
    return _CHRF.sentence_score(answer, [reference]).score


def answer_length(answer: str) -> int:
    """Words, with each Chinese character counted as one."""
    return len(tokenize(answer))


def is_refusal(answer: str) -> bool:
    text = answer.lower().replace("’", "'")
    return not text.strip() or any(p in text for p in REFUSAL_PHRASES) or bool(_ASSISTANT_DECLINES.search(text))


def source_matches(source: str, gold: str) -> bool:
    """A cited source (absolute path, relative path or URL) matches a gold file name when its path ends
    with the gold path: 'policies/returns.md' matches '/x/examples/knowledge/policies/returns.md'."""
    cited = PurePosixPath(source.replace("\\", "/").split("?")[0]).parts
    wanted = PurePosixPath(gold.replace("\\", "/")).parts
    return bool(wanted) and tuple(cited[-len(wanted):]) == tuple(wanted)


def _is_gold(source: str, gold: list[str]) -> bool:
    return any(source_matches(source, g) for g in gold)


def recall_at_k(cited_sources: list[str], gold: list[str], k: int) -> float | None:
    """Share of gold documents found among the first k citations (None when there is no gold)."""
    if not gold:
        return None
    top = cited_sources[:k]
    return sum(any(source_matches(s, g) for s in top) for g in gold) / len(gold)


def reciprocal_rank(cited_sources: list[str], gold: list[str]) -> float | None:
    """1/rank of the first citation from a gold document, 0 when none is; None without gold."""
    if not gold:
        return None
    for rank, source in enumerate(cited_sources, start=1):
        if _is_gold(source, gold):
            return 1.0 / rank
    return 0.0


def citation_correctness(answer: str, cited_sources: list[str], gold: list[str]) -> float | None:
    """Share of the answer's [n] markers that point at a returned citation from a gold document.
    An answer without markers is judged by the citations the server attached: the share from gold
    documents. None when there is no gold or nothing was cited."""
    if not gold or not cited_sources:
        return None
    markers = cited_numbers(answer)
    if markers:
        return sum(1 <= n <= len(cited_sources) and _is_gold(cited_sources[n - 1], gold) for n in markers) / len(
            markers
        )
    return sum(_is_gold(s, gold) for s in cited_sources) / len(cited_sources)
