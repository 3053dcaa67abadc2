"""OpenAI's routes: POST /v1/chat/completions, GET /v1/models, POST /v1/embeddings. Thin: the chat
service (server/service.py) does the work, these read the body and write JSON or SSE."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from core.errors import NotFoundError, RagtuneError
from server.admission import Admission, Ticket
from server.auth import check_scope, client_key
from server.errors import ApiError, error_body, log
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
from server.service import ChatService, served_decoding

router = APIRouter(dependencies=[Depends(client_key)])
DISCONNECT_POLL_S = 0.5


@router.get("/v1/models")
async def list_models(request: Request) -> ModelList:
    rt: Runtime = request.app.state.runtime
    await rt.follow_shared()
    created = now()
    decoding = served_decoding(rt.settings.server, rt.model_id)
    cards = [ModelCard(id=rt.model_id, created=created, decoding=decoding)]
    cards += [
        ModelCard(id=name, created=created, parent=rt.model_id, decoding=decoding) for name in rt.adapters
    ]
    feedback = request.app.state.feedback
    experiments = feedback.experiments.models() if feedback.enabled else []
    cards += [
        ModelCard(id=name, created=created, owned_by="ragtune-experiment", decoding=decoding)
        for name in experiments
    ]
    key = request.state.client_key  # a key scoped to some models sees only those
    return ModelList(data=[card for card in cards if not key or not key.models or card.id in key.models])


# With "stream": true the answer is server-sent events; the schema describes one event (OpenAPI 3.0/3.1 tools
# read `schema` of text/event-stream per event): its data is a chat.completion.chunk as JSON, or [DONE].
_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
}
STREAMED = {200: {"content": {"text/event-stream": {"schema": _EVENT}}, "description": "The answer"}}


@router.post("/v1/chat/completions", response_model=None, responses=STREAMED)
async def chat_completions(
    body: ChatCompletionRequest, request: Request
) -> ChatCompletion | StreamingResponse:
    """Admitted first (server/admission.py: 429 past server.max_concurrent_requests or the key's rate), within
    the key's scope (403), and ended by server.request_timeout_s wherever it waits."""
    service: ChatService = request.app.state.chat
    # an adapter another replica loaded or unloaded, or the folder of one not loaded yet that it names
    await service.rt.follow_shared(body.model)
    request.state.model = service.metric_label(body.model)
    key = request.state.client_key
    rag = body.rag
    collection = (rag.collection or service.rt.settings.knowledge.default_collection) if rag.enabled else None
    try:
        check_scope(key, body.model, collection)
    except ApiError as err:
        service.metrics.scope_refused.labels(err.param).inc()
        raise
    admission: Admission = request.app.state.admission
    ticket = await admission.admit(key)
    streaming = False
    try:
        async with asyncio.timeout_at(ticket.deadline):
            plan = await service.plan(body)
            plan.client, plan.on_usage = (key.name if key else None), ticket.charge
            service.metrics.requests.labels(request.state.model).inc()
            if not body.stream:
                return await _unless_disconnected(request, service.complete(plan), service.metrics)
        streaming = True
    except TimeoutError:
        raise admission.timed_out() from None
    finally:
        if not streaming:
            ticket.release()  # a stream's slot is released when it ends (_sse)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(
        _sse(service.stream(plan, include_usage), service, request.state.model, ticket),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(ticket.release),  # also when the stream never started
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


async def _sse(
    chunks: AsyncIterator[ChatCompletionChunk], service: ChatService, label: str, ticket: Ticket
) -> AsyncIterator[str]:
    """OpenAI's SSE framing, ending with `data: [DONE]`. Headers are sent by now, so a failure, or the
    request's deadline passing, is reported in the stream in OpenAI's error shape. The deadline runs only
    while the next chunk is awaited, never while a chunk is being sent."""
    iterator = aiter(chunks)
    try:
        while True:
            try:
                async with asyncio.timeout_at(ticket.deadline):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            yield f"data: {_chunk_json(chunk)}\n\n"
    except TimeoutError:
        late = ticket.admission.timed_out()
        service.metrics.errors.labels(label, str(late.status)).inc()
        yield f"data: {json.dumps(error_body(late.status, late.message, code=late.code))}\n\n"
    except Exception:  # noqa: BLE001 - logged; the client gets a generic error event
        service.metrics.errors.labels(label, "500").inc()
        log.exception("generation failed")
        yield f"data: {json.dumps(error_body(500, 'generation failed; the server log has the details'))}\n\n"
    finally:
        ticket.release()
        await chunks.aclose()  # stops the generation when the client left or the deadline passed
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
            f"dimensions: '{name}' gives {vectors.shape[1]} dimensions, not {body.dimensions}",
            param="dimensions",
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
    return EmbeddingList(
        data=data, model=name, usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens)
    )


def _embed(embedder, texts: list[str]) -> tuple[np.ndarray, int]:
    vectors = embedder.encode(texts)
    return vectors, sum(len(ids) for ids in embedder.tokenizer(texts)["input_ids"])
