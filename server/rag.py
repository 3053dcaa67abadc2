"""Retrieval for one chat request: the query, the search, and the citations of the sources that
made it into the prompt."""

import asyncio
import time

from retrieval.types import Hit
from server.schemas import Citation, RagOptions
from core.prompt import Source, format_sources

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


def citations(hits: list[Hit], system_content: str) -> list[Citation]:
    """Citations for the sources the prompt builder kept (it drops the lowest-ranked to fit the budget)."""
    sources = to_sources(hits)
    kept = next((k for k in range(len(hits), 0, -1) if format_sources(sources[:k]) in system_content), 0)
    return [
        Citation(
            source=h.source,
            title=h.title,
            document_id=h.doc_id,
            chunk_id=h.chunk_id,
            score=round(float(h.score), 4),
            snippet=h.text[:SNIPPET_CHARS],
        )
        for h in hits[:kept]
    ]
