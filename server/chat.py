"""POST /v1/chat/completions and GET /v1/models: OpenAI's bodies, ragtune's RAG and adapters behind them."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from server import rag
from server.auth import client_key
from server.engines import Delta, SamplingParams
from server.errors import ApiError, error_body
from server.runtime import Runtime
from server.schemas import ChatCompletionRequest, Citation, Usage, completion_id, now
from core.prompt import DEFAULT_SYSTEM_PROMPT, build_prompt
from retrieval.query import retrieval_query

router = APIRouter(dependencies=[Depends(client_key)])


@dataclass
class Prepared:
    messages: list[dict]
    params: SamplingParams
    adapter: str | None
    citations: list[Citation]
    fallback: str | None  # answer instead of generating (RAG on, nothing found, fallback configured)


@router.get("/v1/models")
async def list_models(request: Request) -> dict:
    rt: Runtime = request.app.state.runtime
    created = now()
    models = [{"id": rt.model_id, "object": "model", "created": created, "owned_by": "ragtune"}]
    models += [
        {"id": name, "object": "model", "created": created, "owned_by": "ragtune", "parent": rt.model_id}
        for name in rt.adapters
    ]
    return {"object": "list", "data": models}


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request):
    rt: Runtime = request.app.state.runtime
    request.state.model = body.model
    prepared = await prepare(rt, body, request.app.state.metrics)
    request.app.state.metrics.requests.labels(body.model).inc()
    deltas = (
        _fallback(prepared.fallback)
        if prepared.fallback is not None
        else rt.engine.generate(prepared.messages, prepared.params, prepared.adapter)
    )
    recorder = Recorder(request.app.state.metrics, body.model)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            stream_chunks(deltas, body.model, prepared.citations, include_usage, recorder),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await complete(deltas, body.model, prepared.citations, recorder)


async def prepare(rt: Runtime, body: ChatCompletionRequest, metrics) -> Prepared:
    settings = rt.settings
    adapter = rt.resolve_model(body.model)
    system_prompt = settings.server.system_prompt or DEFAULT_SYSTEM_PROMPT
    if body.style is not None:
        style = settings.server.styles.get(body.style)
        if style is None:
            known = ", ".join(settings.server.styles) or "none configured"
            raise ApiError(400, f"unknown style '{body.style}' (known: {known})", param="style")
        system_prompt = style.system_prompt or system_prompt
        if adapter is None and style.adapter:
            adapter = rt.resolve_model(style.adapter)
    conversation = body.conversation()
    hits = None
    if body.rag.enabled:
        query = retrieval_query(conversation, settings.retrieval)
        hits = await rag.retrieve(rt.kb, query, body.rag, metrics)
    max_tokens = body.max_completion_tokens or body.max_tokens or settings.server.default_max_tokens
    budget = settings.engine.max_model_len - max_tokens
    if budget <= 0:
        raise ApiError(
            400,
            f"max_tokens {max_tokens} leaves no room for the prompt in the model's context "
            f"of {settings.engine.max_model_len} tokens",
            param="max_tokens",
        )
    sources = rag.to_sources(hits) if hits is not None else None
    messages = build_prompt(
        conversation,
        sources,
        tokenizer=rt.engine.tokenizer,
        system_prompt=system_prompt,
        max_prompt_tokens=budget,
    ).messages
    params = SamplingParams(
        max_tokens=max_tokens,
        min_tokens=min(body.min_tokens, max_tokens),
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stop_list(),
        seed=body.seed,
    )
    fallback = settings.server.fallback_answer if hits == [] else None
    cites = rag.citations(hits, messages[0]["content"]) if hits else []
    return Prepared(messages, params, adapter, cites, fallback)


async def _fallback(text: str) -> AsyncIterator[Delta]:
    yield Delta(text, "stop", 0, 0)


class Recorder:
    """Per-request timing into the metrics: latency, time to first token, tokens/s."""

    def __init__(self, metrics, model: str):
        self.metrics, self.model = metrics, model
        self.started = time.perf_counter()
        self.first: float | None = None

    def token(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()
            self.metrics.ttft.labels(self.model).observe(self.first - self.started)

    def done(self, last: Delta) -> None:
        ended = time.perf_counter()
        self.metrics.latency.labels(self.model).observe(ended - self.started)
        self.metrics.completion_tokens.labels(self.model).inc(last.completion_tokens)
        if self.first is not None and ended > self.first and last.completion_tokens > 1:
            self.metrics.tokens_per_second.labels(self.model).observe(
                (last.completion_tokens - 1) / (ended - self.first)
            )


def _usage(last: Delta) -> dict:
    return Usage(
        prompt_tokens=last.prompt_tokens,
        completion_tokens=last.completion_tokens,
        total_tokens=last.prompt_tokens + last.completion_tokens,
    ).model_dump()


async def complete(
    deltas: AsyncIterator[Delta], model: str, cites: list[Citation], recorder: Recorder
) -> dict:
    parts, last = [], None
    async with aclosing(deltas) as stream:
        async for delta in stream:
            if delta.text:
                recorder.token()
            parts.append(delta.text)
            last = delta
    recorder.done(last)
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(parts)},
                "finish_reason": last.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": _usage(last),
        "citations": [c.model_dump() for c in cites],
    }


async def stream_chunks(
    deltas: AsyncIterator[Delta], model: str, cites: list[Citation], include_usage: bool, recorder: Recorder
) -> AsyncIterator[str]:
    """SSE in OpenAI's chunk format; the first chunk carries the citations; ends with `data: [DONE]`."""
    cid, created = completion_id(), now()

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        body = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
            **extra,
        }
        if include_usage:
            body.setdefault("usage", None)
        return f"data: {json.dumps(body)}\n\n"

    try:
        yield chunk({"role": "assistant", "content": ""}, citations=[c.model_dump() for c in cites])
        last = None
        async with aclosing(deltas) as stream:
            async for delta in stream:
                if delta.text:
                    recorder.token()
                    yield chunk({"content": delta.text})
                last = delta
        yield chunk({}, last.finish_reason)
        if include_usage:
            body = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage(last),
            }
            yield f"data: {json.dumps(body)}\n\n"
        recorder.done(last)
    except (
        asyncio.CancelledError,
        GeneratorExit,
    ):  # the client went away: closing `deltas` aborted the generation
        recorder.metrics.cancelled.labels(model).inc()
        raise
    except Exception as err:  # noqa: BLE001 - headers are sent: report in the stream, in OpenAI's error shape
        recorder.metrics.errors.labels(model, "500").inc()
        yield f"data: {json.dumps(error_body(500, f'generation failed: {err}'))}\n\n"
    yield "data: [DONE]\n\n"
