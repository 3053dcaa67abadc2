"""The sources a prompt gets, cut to what matters: prefill of the sources is most of a RAG request's cost.

A hit is kept only when it covers at least `min_relative_coverage` of what the best hit covers of the
question (retrieval.evidence: IDF-weighted content terms), so a clear winner is not diluted by chunks that
merely share its topic; the first hit is always kept. A kept chunk longer than `excerpt_tokens` is cut to its
lines and sentences that cover the question best, in their document order, with "…" where text was left out.
Hits are taken in order until `source_budget_tokens` are spent. Serving (server/service.py) and
retrieval-aware training (training/raft.py) both call fit_sources, so an adapter is trained on the very
sources the server will give it.
"""

import re
from collections.abc import Callable
from dataclasses import replace

from core.settings import RetrievalSettings
from retrieval.evidence import IdfLookup, QuestionTerms, hit_text
from retrieval.types import Hit

OMITTED = "…"
MIN_EXCERPT_TOKENS = 24  # below this a source is not worth its heading
# A line, or a sentence of a longer line: ends at a line break or after closing punctuation.
_UNIT = re.compile(r"[^\n]*?(?:[.!?;](?=\s)|[。！？；]|(?=\n)|$)")


def fit_sources(
    question: str,
    hits: list[Hit],
    settings: RetrievalSettings,
    count_tokens: Callable[[str], int],
    idf: IdfLookup | None = None,
) -> list[Hit]:
    """The hits for the prompt, in their order, their text cut to their best lines and sentences."""
    if not hits:
        return []
    terms = QuestionTerms.of(question, idf)
    shares = [terms.covered_by(hit_text(hit)).share for hit in hits]
    floor = settings.min_relative_coverage * max(shares)
    kept, left = [], settings.source_budget_tokens
    for index, (hit, share) in enumerate(zip(hits, shares)):
        limit = min(settings.excerpt_tokens, left)
        if index and (share < floor or limit < MIN_EXCERPT_TOKENS):
            continue
        text = excerpt(hit.text, terms, limit, count_tokens)
        kept.append(replace(hit, text=text))
        left -= count_tokens(text)
    return kept


def excerpt(text: str, terms: QuestionTerms, limit: int, count_tokens: Callable[[str], int]) -> str:
    """The text if it fits in `limit` tokens; else its units that cover the question best (earlier first among
    equals) as long as they fit, in document order, "…" marking each gap. The best unit is kept even alone
    over the limit."""
    if count_tokens(text) <= limit:
        return text
    spans = [m.span() for m in _UNIT.finditer(text) if text[m.start() : m.end()].strip()]
    shares = [terms.covered_by(text[start:end]).share for start, end in spans]
    best = shares.index(max(shares))
    ranked = sorted(range(len(spans)), key=lambda i: (-shares[i], abs(i - best)))  # then nearest the best
    chosen, used = set(), 0
    for index in ranked:
        cost = count_tokens(text[slice(*spans[index])]) + 1  # and its separator
        if not chosen or used + cost <= limit:
            chosen.add(index)
            used += cost
    parts, previous = [], -1
    for index in sorted(chosen):
        start, end = spans[index]
        if index == previous + 1 and parts:
            parts[-1] += text[spans[previous][1] : end]  # the next unit, with what separated them
        else:
            parts += [OMITTED] if index else []
            parts.append(text[start:end].strip())
        previous = index
    if previous < len(spans) - 1:
        parts.append(OMITTED)
    return "\n".join(parts)


def token_counter(tokenizer) -> Callable[[str], int]:
    """Counts text in the chat model's tokens (a Hugging Face tokenizer)."""
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])
