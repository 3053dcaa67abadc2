"""Retrieval for one chat request: the search, its sources for the prompt, and the citations of those kept."""

import asyncio
import time

from core.prompt import Source
from retrieval.types import Hit
from server.protocol import Citation, RagOptions

SNIPPET_CHARS = 240


async def retrieve(kb, query: str, options: RagOptions, metrics) -> list[Hit]:
    started = time.perf_counter()
    hits = await asyncio.to_thread(
        kb.search, query, k=options.top_k, collection=options.collection, filters=options.filters
    )
    metrics.retrieval_latency.observe(time.perf_counter() - started)
    return hits


def to_sources(hits: list[Hit]) -> list[Source]:
    return [Source(text=h.text, title=h.title, source=h.source) for h in hits]


def citations(kept: list[Hit]) -> list[Citation]:
    """Citations for the hits whose sources the prompt kept."""
    return [
        Citation(
            source=h.source,
            title=h.title,
            document_id=h.doc_id,
            chunk_id=h.chunk_id,
            score=round(float(h.score), 4),
            snippet=h.text[:SNIPPET_CHARS],
        )
        for h in kept
    ]
