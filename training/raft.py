"""Retrieval-aware tuning (after RAFT, Zhang et al. 2024): each sample gets the sources the server would
retrieve for its question, the gold chunk among distractors; in a set share of samples the gold chunk is
left out and the answer to learn is a polite "not in my sources". An answer given with its gold source learns
to cite it ([n], its place among the sources) unless it already cites. Retrieval is passed in as a function
of the conversation (RaftRetriever: the server's own query and search) returning hits with text, title, source
and doc_id."""

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Protocol

from core.language import DECLINE, detect_language
from core.prompt import Source, citation_marker, cited_numbers
from core.settings import RetrievalSettings
from retrieval.excerpts import fit_sources, token_counter
from retrieval.query import retrieval_query
from retrieval.types import Hit
from training.data import Conversation

_END = re.compile(r"([.!?。！？]*)$")


class SearchableKnowledge(Protocol):
    """What RAFT needs of a knowledge base (knowledge.KnowledgeBase): its search and its corpus IDF."""

    def search(self, query: str, k: int | None = None, collection: str | None = None) -> list[Hit]: ...

    def idf(self, terms: list[str]) -> dict[str, float]: ...


@dataclass(frozen=True)
class RaftRetriever:
    """The server's retrieval for a training conversation: the same query (retrieval.query), knowledge base
    and collection, and the same excerpt fitting, so a sample is trained on the sources it would be served."""

    kb: SearchableKnowledge
    collection: str | None
    retrieval: RetrievalSettings

    def __call__(self, conversation: list[dict]) -> list[Hit]:
        k = self.retrieval.top_k * 3  # room to find the gold chunk and distractors
        query = retrieval_query(conversation, self.retrieval)
        return self.kb.search(query, k=k, collection=self.collection)

    def served(self, conversation: list[dict]) -> list[Hit]:
        """The hits serving's search gives the conversation (top_k of them), before the relevance gate and
        the excerpts: what online RL prompts with (training/rl.py)."""
        query = retrieval_query(conversation, self.retrieval)
        return self.kb.search(query, k=self.retrieval.top_k, collection=self.collection)

    def fitter(self, tokenizer) -> Callable[[list[dict], list[Hit]], list[Hit]]:
        """`fit(conversation, hits)` cutting sources to excerpts as the server does, in `tokenizer`'s tokens,
        for the question completed from the conversation (retrieval.query)."""
        count_tokens = token_counter(tokenizer)

        def fit(conversation: list[dict], hits: list[Hit]) -> list[Hit]:
            query = retrieval_query(conversation, self.retrieval)
            return fit_sources(query, hits, self.retrieval, count_tokens, self.kb.idf)

        return fit


def decline_answer(question: str, overrides: dict[str, str] | None = None) -> str:
    """The decline to learn in the question's language: `overrides` ({"en": ..., "zh": ...}) or the
    built-in."""
    language = detect_language(question)
    return (overrides or {}).get(language) or DECLINE[language]


def cite(answer: str, number: int) -> str:
    """The answer with [number] before its closing punctuation, unless it already cites a source."""
    if cited_numbers(answer):
        return answer
    body, end = answer.rstrip(), _END.search(answer.rstrip()).group(1)
    body = body[: len(body) - len(end)]
    space = "" if body and detect_language(body[-1]) == "zh" else " "
    return f"{body}{space}{citation_marker(number)}{end}"


def with_sources(
    samples: list[Conversation],
    retrieve: Callable[[list[dict]], list],
    *,
    k: int,
    decline_share: float,
    seed: int,
    declines: dict[str, str] | None = None,
    fit: Callable[[list[dict], list], list] | None = None,
) -> tuple[list[tuple[Conversation, list[Source]]], Counter]:
    """(sample, sources) pairs and counts: with_gold, declined, no_gold (gold not retrieved or not labelled:
    kept with the sources retrieval gave, as the server would). `fit(conversation, hits)` cuts the sources as
    the server does (retrieval.excerpts.fit_sources, which keeps the first hit: the gold one when there is
    one)."""
    rng, counts, pairs = random.Random(seed), Counter(), []
    fit = fit or (lambda conversation, hits: hits)
    for sample in samples:
        hits, question = retrieve(sample.messages), sample.last_user()
        gold = [h for h in hits if is_gold(h, sample.gold_sources)]
        distractors = [h for h in hits if not is_gold(h, sample.gold_sources)]
        if not gold:
            counts["no_gold"] += 1
            pairs.append((sample, [as_source(h) for h in fit(sample.messages, hits[:k])]))
        elif rng.random() < decline_share:
            counts["declined"] += 1
            messages = [
                *sample.messages[:-1],
                {"role": "assistant", "content": decline_answer(question, declines)},
            ]
            sources = [as_source(h) for h in fit(sample.messages, distractors[:k])]
            pairs.append((replace(sample, messages=messages), sources))
        else:
            counts["with_gold"] += 1
            chosen = fit(sample.messages, [gold[0], *distractors[: k - 1]])
            fitted_gold = chosen[0]
            rng.shuffle(chosen)  # the gold chunk is not always first
            number = next(i for i, h in enumerate(chosen, start=1) if h is fitted_gold)
            answer = cite(sample.messages[-1]["content"], number)
            messages = [*sample.messages[:-1], {"role": "assistant", "content": answer}]
            pairs.append((replace(sample, messages=messages), [as_source(h) for h in chosen]))
    return pairs, counts


def is_gold(hit, gold_sources: list[str]) -> bool:
    """Whether the hit is from a gold document. A gold id names a document: its id, its source path/url,
    or that path's file name (or tail)."""
    ids = {getattr(hit, "doc_id", ""), hit.source, PurePath(hit.source).name}
    return any(g in ids or (g and hit.source.endswith("/" + g.lstrip("/"))) for g in gold_sources)


def as_source(hit) -> Source:
    return Source(text=hit.text, title=hit.title, source=hit.source)
