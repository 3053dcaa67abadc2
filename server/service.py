"""One chat request's work, with no HTTP in it: resolve the model and style, retrieve, build the prompt
(core.prompt, the same contract training uses), set sampling, generate, shape the OpenAI response.
The routes, the serving benchmark and any other caller use this same code."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from core.errors import RagtuneError
from core.prompt import DEFAULT_SYSTEM_PROMPT, Prompt, build_prompt
from retrieval.query import retrieval_query
from retrieval.types import Hit
from server import rag
from server.engines import Delta, SamplingParams
from server.metrics import Metrics, Recorder
from server.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    ChunkDelta,
    Citation,
    NamedToolChoice,
    TokenLogprob,
    ToolCall,
    TopLogprob,
    Usage,
    completion_id,
    now,
)
from server.runtime import Runtime


@dataclass
class ChatPlan:
    """Everything decided before generation."""

    model: str  # as the request named it
    adapter: str | None
    prompt: Prompt
    params: SamplingParams
    n: int
    citations: list[Citation]
    fallback: str | None  # answer instead of generating (RAG on, nothing found, fallback configured)
    tool_names: list[str] | None  # the answer is JSON for these tools' calls (a forced tool choice)


class ChatService:
    def __init__(self, runtime: Runtime, metrics: Metrics):
        self.rt, self.metrics = runtime, metrics

    async def plan(self, request: ChatCompletionRequest) -> ChatPlan:
        settings = self.rt.settings
        adapter, system_prompt, style_tag = self._model_and_style(request)
        conversation = request.conversation()
        hits: list[Hit] | None = None
        if request.rag.enabled:
            query = retrieval_query(conversation, settings.retrieval)
            hits = await rag.retrieve(self.rt.kb, query, request.rag, self.metrics)
        params, tool_names = self._sampling(request)
        missing = params.features() - self.rt.engine.supports
        if missing:
            raise RagtuneError(
                f"{', '.join(sorted(missing))}: not supported by the {self.rt.engine.name} engine",
                param=min(missing).split("/")[0],
            )
        budget = settings.engine.max_model_len - params.max_tokens
        if budget <= 0:
            raise RagtuneError(
                f"max_tokens {params.max_tokens} leaves no room for the prompt in the model's context "
                f"of {settings.engine.max_model_len} tokens",
                param="max_tokens",
            )
        prompt = await asyncio.to_thread(  # tokenizing is CPU work: off the event loop
            build_prompt,
            conversation,
            rag.to_sources(hits) if hits is not None else None,
            tokenizer=self.rt.engine.tokenizer,
            system_prompt=system_prompt,
            style=style_tag,
            max_prompt_tokens=budget,
            tools=[tool.model_dump() for tool in request.tools] if tool_names else None,
        )
        citations = rag.citations(hits[: len(prompt.sources)]) if hits else []
        fallback = settings.server.fallback_answer if hits == [] else None
        return ChatPlan(request.model, adapter, prompt, params, request.n, citations, fallback, tool_names)

    def _model_and_style(self, request: ChatCompletionRequest) -> tuple[str | None, str, str | None]:
        """(adapter, system prompt, style tag). A style is, in this order: configured in settings (its
        adapter and system prompt), a style tag the requested adapter was trained with, or the adapter
        trained for that style alone. An adapter is served with the system prompt it was trained with
        unless settings name one."""
        settings, rt = self.rt.settings, self.rt
        adapter = rt.resolve_model(request.model)
        style, tag, style_prompt = request.style, None, None
        if style is not None:
            configured = settings.server.styles.get(style)
            trained_tags = rt.adapters[adapter].styles if adapter else []
            if configured is not None:
                style_prompt = configured.system_prompt
                if adapter is None and configured.adapter:
                    adapter = rt.resolve_model(configured.adapter)
            elif style in trained_tags:
                tag = style
            elif adapter is None and rt.style_adapter(style):
                adapter = rt.style_adapter(style)
            else:
                known = sorted({*settings.server.styles, *trained_tags, *rt.style_adapters()})
                raise RagtuneError(
                    f"unknown style '{style}' for model '{request.model}' (known: {', '.join(known) or 'none'})",
                    param="style",
                )
        trained_prompt = rt.adapters[adapter].system_prompt if adapter else None
        system_prompt = style_prompt or settings.server.system_prompt or trained_prompt or DEFAULT_SYSTEM_PROMPT
        return adapter, system_prompt, tag

    def _sampling(self, request: ChatCompletionRequest) -> tuple[SamplingParams, list[str] | None]:
        """The request's values over the served model's decoding defaults (settings) over OpenAI's."""
        defaults = self.rt.settings.server.decoding.get(self.rt.model_id)
        fields = ("temperature", "top_p", "frequency_penalty", "presence_penalty", "repetition_penalty")
        given = {name: getattr(request, name) for name in fields if getattr(request, name) is not None}
        chosen = {**(defaults.model_dump(exclude_none=True) if defaults else {}), **given}
        max_tokens = (
            request.max_completion_tokens or request.max_tokens or self.rt.settings.server.default_max_tokens
        )
        schema, json_object = None, False
        if request.response_format is not None and request.response_format.type == "json_schema":
            schema = request.response_format.json_schema.schema_
        json_object = request.response_format is not None and request.response_format.type == "json_object"
        tool_names, tool_schema = _forced_tool_calls(request)
        if tool_schema is not None:
            schema, json_object = tool_schema, False
        params = SamplingParams(
            max_tokens=max_tokens,
            min_tokens=min(request.min_tokens, max_tokens),
            stop=request.stop_list(),
            seed=request.seed,
            logprobs=(request.top_logprobs or 0) if request.logprobs else None,
            json_schema=schema,
            json_object=json_object,
            **chosen,
        )
        return params, tool_names

    def _choices(self, plan: ChatPlan) -> list[AsyncIterator[Delta]]:
        """One stream of deltas per choice; n > 1 runs n generations side by side (seed + i when seeded)."""
        if plan.fallback is not None:
            return [_fallback(plan.fallback) for _ in range(plan.n)]
        streams = []
        for index in range(plan.n):
            params = plan.params
            if plan.params.seed is not None and index:
                params = SamplingParams(**{**plan.params.__dict__, "seed": plan.params.seed + index})
            streams.append(self.rt.engine.generate(plan.prompt.token_ids, params, plan.adapter))
        return streams

    async def complete(self, plan: ChatPlan) -> ChatCompletion:
        recorder = Recorder(self.metrics, plan.model)

        async def one(stream: AsyncIterator[Delta]) -> tuple[str, Delta, list]:
            parts, logprobs, last = [], [], None
            async with aclosing(stream) as deltas:
                async for delta in deltas:
                    if delta.text:
                        recorder.token()
                    parts.append(delta.text)
                    logprobs += delta.logprobs
                    last = delta
            return "".join(parts), last, logprobs

        results = await asyncio.gather(*(one(stream) for stream in self._choices(plan)))
        choices = [
            Choice(
                index=index,
                message=_message(text, plan.tool_names),
                finish_reason="tool_calls" if plan.tool_names else last.finish_reason,
                logprobs=_logprobs(logprobs) if plan.params.logprobs is not None else None,
            )
            for index, (text, last, logprobs) in enumerate(results)
        ]
        usage = _usage([last for _, last, _ in results])
        recorder.done(usage.completion_tokens)
        return ChatCompletion(
            id=completion_id(), created=now(), model=plan.model, choices=choices, usage=usage,
            citations=plan.citations,
        )  # fmt: skip

    async def stream(self, plan: ChatPlan, include_usage: bool) -> AsyncIterator[ChatCompletionChunk]:
        """OpenAI's chunks: the first of each choice carries the role (the very first the citations), the
        last its finish_reason; a final chunk with the usage when asked. Forced tool calls arrive whole at
        the end (their JSON is only parsed once complete)."""
        recorder = Recorder(self.metrics, plan.model)
        cid, created = completion_id(), now()

        def chunk(choices: list[ChunkChoice], **extra) -> ChatCompletionChunk:
            return ChatCompletionChunk(id=cid, created=created, model=plan.model, choices=choices, **extra)

        yield chunk(
            [ChunkChoice(index=i, delta=ChunkDelta(role="assistant", content="")) for i in range(plan.n)],
            citations=plan.citations,
        )
        lasts: dict[int, Delta] = {}
        texts: dict[int, list[str]] = {i: [] for i in range(plan.n)}
        try:
            async for index, delta in _merge(self._choices(plan)):
                if delta.text:
                    recorder.token()
                texts[index].append(delta.text)
                lasts[index] = delta
                logprobs = _logprobs(delta.logprobs) if plan.params.logprobs is not None else None
                if (delta.text and not plan.tool_names) or delta.logprobs:
                    content = None if plan.tool_names else delta.text
                    yield chunk([ChunkChoice(index=index, delta=ChunkDelta(content=content), logprobs=logprobs)])
                if delta.finish_reason is not None:
                    yield chunk([_last_chunk_choice(index, delta, "".join(texts[index]), plan.tool_names)])
        except (asyncio.CancelledError, GeneratorExit):  # the client went away: generation was aborted
            self.metrics.cancelled.labels(plan.model).inc()
            raise
        usage = _usage([lasts[i] for i in sorted(lasts)])
        recorder.done(usage.completion_tokens)
        if include_usage:
            yield chunk([], usage=usage)


def _forced_tool_calls(request: ChatCompletionRequest) -> tuple[list[str] | None, dict | None]:
    """(tool names, JSON schema) when the request forces a tool call: a named tool_choice, or "required".
    "auto" needs a tool-call parser for the served model, which ragtune does not have: refused by name."""
    choice = request.tool_choice
    if not request.tools or choice == "none":
        return None, None
    tools = {tool.function.name: tool.function.parameters for tool in request.tools}
    if isinstance(choice, NamedToolChoice):
        name = choice.function["name"]
        return [name], _calls_schema({name: tools[name]})
    if choice == "required":
        return list(tools), _calls_schema(tools)
    raise RagtuneError(
        "tools: tool_choice 'auto' needs a tool-call parser for the served model, which this server does "
        "not have; send tool_choice 'required' or {'type': 'function', 'function': {'name': ...}}",
        param="tool_choice",
    )


def _calls_schema(tools: dict[str, dict]) -> dict:
    """JSON the model must write: a list of calls, each {"name": one of the tools, "arguments": its schema}."""
    call = [
        {
            "type": "object",
            "properties": {"name": {"const": name}, "arguments": parameters},
            "required": ["name", "arguments"],
        }
        for name, parameters in tools.items()
    ]
    return {"type": "array", "minItems": 1, "items": {"anyOf": call}}


def _tool_calls(text: str) -> list[ToolCall]:
    try:
        calls = json.loads(text)
    except json.JSONDecodeError as err:  # cut short by max_tokens: the JSON is incomplete
        raise RagtuneError(
            f"max_tokens: the tool call was cut off before its JSON was complete ({err})", param="max_tokens"
        ) from err
    return [
        ToolCall(
            id=f"call_{uuid.uuid4().hex[:24]}",
            function={"name": call["name"], "arguments": json.dumps(call["arguments"], ensure_ascii=False)},
        )
        for call in calls
    ]


def _message(text: str, tool_names: list[str] | None) -> AssistantMessage:
    if tool_names:
        return AssistantMessage(content=None, tool_calls=_tool_calls(text))
    return AssistantMessage(content=text)


def _last_chunk_choice(index: int, last: Delta, text: str, tool_names: list[str] | None) -> ChunkChoice:
    if not tool_names:
        return ChunkChoice(index=index, delta=ChunkDelta(), finish_reason=last.finish_reason)
    calls = [
        {"index": position, **call.model_dump()} for position, call in enumerate(_tool_calls(text))
    ]
    return ChunkChoice(index=index, delta=ChunkDelta(tool_calls=calls), finish_reason="tool_calls")


def _logprobs(tokens) -> ChoiceLogprobs:
    def entry(token: str, logprob: float) -> dict:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}

    return ChoiceLogprobs(
        content=[
            TokenLogprob(
                **entry(t.token, t.logprob), top_logprobs=[TopLogprob(**entry(*top)) for top in t.top]
            )
            for t in tokens
        ]
    )


def _usage(lasts: list[Delta]) -> Usage:
    prompt = lasts[0].prompt_tokens if lasts else 0
    completion = sum(last.completion_tokens for last in lasts)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


async def _fallback(text: str) -> AsyncIterator[Delta]:
    yield Delta(text, "stop", 0, 0)


async def _merge(streams: list[AsyncIterator[Delta]]) -> AsyncIterator[tuple[int, Delta]]:
    """(choice index, delta) from several streams as they come; leaving early closes all of them."""
    if len(streams) == 1:
        async with aclosing(streams[0]) as deltas:
            async for delta in deltas:
                yield 0, delta
        return
    queue: asyncio.Queue = asyncio.Queue()
    done = object()

    async def pump(index: int, stream: AsyncIterator[Delta]) -> None:
        try:
            async with aclosing(stream) as deltas:
                async for delta in deltas:
                    await queue.put((index, delta))
        except Exception as err:  # noqa: BLE001 - re-raised in the consumer
            await queue.put((index, err))
        finally:
            await queue.put((index, done))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        running = len(tasks)
        while running:
            index, item = await queue.get()
            if item is done:
                running -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield index, item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

