"""OpenAI's routes: POST /v1/chat/completions, GET /v1/models, POST /v1/embeddings. Thin: the chat
service (server/service.py) does the work, these read the body and write JSON or SSE."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from core.errors import NotFoundError, RagtuneError
from server.auth import client_key
from server.engines.base import SamplingParams
from server.errors import error_body, log
from server.protocol import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Embedding,
    EmbeddingList,
    EmbeddingRequest,
    EmbeddingUsage,
    ModelCard,
    ModelList,
    now,
)
from server.runtime import Runtime
from server.service import ChatService

router = APIRouter(dependencies=[Depends(client_key)])
DISCONNECT_POLL_S = 0.5
DECODING_FIELDS = ("temperature", "top_p", "frequency_penalty", "presence_penalty", "repetition_penalty")


def served_decoding(settings, model_id: str) -> dict[str, float]:
    """The decoding a request that names none gets: settings.server.decoding for the base model over the
    engine's defaults. Adapters and experiments share the base model's (the evaluation report states it)."""
    engine_defaults = SamplingParams()
    chosen = settings.server.decoding.get(model_id)
    chosen = chosen.model_dump(exclude_none=True) if chosen else {}
    return {name: chosen.get(name, getattr(engine_defaults, name)) for name in DECODING_FIELDS}


@router.get("/v1/models")
async def list_models(request: Request) -> ModelList:
    rt: Runtime = request.app.state.runtime
    created = now()
    decoding = served_decoding(rt.settings, rt.model_id)
    cards = [ModelCard(id=rt.model_id, created=created, decoding=decoding)]
    cards += [ModelCard(id=name, created=created, parent=rt.model_id, decoding=decoding)
              for name in rt.adapters]
    feedback = request.app.state.feedback
    experiments = feedback.experiments.models() if feedback.enabled else []
    cards += [ModelCard(id=name, created=created, owned_by="ragtune-experiment", decoding=decoding)
              for name in experiments]
    return ModelList(data=cards)


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> ChatCompletion | StreamingResponse:
    service: ChatService = request.app.state.chat
    request.state.model = service.metric_label(body.model)
    plan = await service.plan(body)
    service.metrics.requests.labels(request.state.model).inc()
    if not body.stream:
        return await _unless_disconnected(request, service.complete(plan), service.metrics)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(
        _sse(service.stream(plan, include_usage), service, request.state.model),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _unless_disconnected(request: Request, answer, metrics) -> ChatCompletion | Response:
    """A non-streamed answer whose client has left is not worth generating: cancelling it aborts the
    generation in the engine, as soon as the disconnect is seen (checked every DISCONNECT_POLL_S)."""
    task = asyncio.ensure_future(answer)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if not task.done() and await request.is_disconnected():
                task.cancel()
                await asyncio.wait({task})
                metrics.disconnected.labels(request.state.model).inc()
                return Response(status_code=499)  # nobody reads it: "client closed request"
        return task.result()
    finally:
        task.cancel()  # the route itself was cancelled (server shutdown): so is the generation


async def _sse(chunks: AsyncIterator[ChatCompletionChunk], service: ChatService, label: str) -> AsyncIterator[str]:
    """OpenAI's SSE framing, ending with `data: [DONE]`. Headers are sent by now, so a failure is reported
    in the stream in OpenAI's error shape."""
    try:
        async for chunk in chunks:
            yield f"data: {_chunk_json(chunk)}\n\n"
    except Exception:  # noqa: BLE001 - logged; the client gets a generic error event
        service.metrics.errors.labels(label, "500").inc()
        log.exception("generation failed")
        yield f"data: {json.dumps(error_body(500, 'generation failed; the server log has the details'))}\n\n"
    yield "data: [DONE]\n\n"


def _chunk_json(chunk: ChatCompletionChunk) -> str:
    """Deltas carry only what they have (as OpenAI's do); `usage` and `citations` only where set."""
    body = chunk.model_dump(exclude={"usage", "citations"})
    for choice, model in zip(body["choices"], chunk.choices):
        choice["delta"] = model.delta.model_dump(exclude_none=True)
    if chunk.usage is not None or not chunk.choices:
        body["usage"] = chunk.usage.model_dump() if chunk.usage else None
    if chunk.citations is not None:
        body["citations"] = [c.model_dump() for c in chunk.citations]
    return json.dumps(body, ensure_ascii=False)


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingRequest, request: Request) -> EmbeddingList:
    """The knowledge base's own embedder, for front ends that run their own search."""
    rt: Runtime = request.app.state.runtime
    name = rt.settings.retrieval.embedding_model
    if body.model not in (name, name.rsplit("/", 1)[-1]):
        raise NotFoundError(
            f"embedding model '{body.model}' is not served; this server embeds with '{name}'",
            param="model",
            code="model_not_found",
        )
    texts = [body.input] if isinstance(body.input, str) else body.input
    embedder = rt.kb.embedder
    vectors, tokens = await asyncio.to_thread(_embed, embedder, texts)
    if body.dimensions is not None and body.dimensions != vectors.shape[1]:
        raise RagtuneError(
            f"dimensions: '{name}' gives {vectors.shape[1]} dimensions, not {body.dimensions}", param="dimensions"
        )
    data = [
        Embedding(
            index=i,
            embedding=base64.b64encode(v.astype("<f4").tobytes()).decode()
            if body.encoding_format == "base64"
            else v.tolist(),
        )
        for i, v in enumerate(vectors)
    ]
    return EmbeddingList(data=data, model=name, usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens))


def _embed(embedder, texts: list[str]) -> tuple[np.ndarray, int]:
    vectors = embedder.encode(texts)
    return vectors, sum(len(ids) for ids in embedder.tokenizer(texts)["input_ids"])
