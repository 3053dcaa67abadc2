"""Shaping engine output into OpenAI's answers: forced tool calls (structured output), logprobs, usage,
and several choices' streams merged into one."""

import asyncio
import json
import math
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing

from core.errors import RagtuneError
from server.engines import Delta
from server.protocol import (
    AssistantMessage,
    ChatCompletionRequest,
    ChoiceLogprobs,
    ChunkChoice,
    ChunkDelta,
    NamedToolChoice,
    PromptTokensDetails,
    TokenLogprob,
    ToolCall,
    TopLogprob,
    Usage,
)


def forced_tool_calls(request: ChatCompletionRequest) -> tuple[list[str] | None, dict | None]:
    """(tool names, JSON schema) when the request forces a tool call: a named tool_choice, or "required".
    "auto" needs a tool-call parser for the served model, which ragtune does not have: refused by name."""
    choice = request.tool_choice
    if not request.tools or choice == "none":
        return None, None
    tools = {tool.function.name: tool.function.parameters for tool in request.tools}
    if isinstance(choice, NamedToolChoice):
        name = choice.function.name
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


def message(text: str, tool_names: list[str] | None) -> AssistantMessage:
    if tool_names:
        return AssistantMessage(content=None, tool_calls=_tool_calls(text))
    return AssistantMessage(content=text)


def last_chunk_choice(index: int, last: Delta, text: str, tool_names: list[str] | None) -> ChunkChoice:
    if not tool_names:
        return ChunkChoice(index=index, delta=ChunkDelta(), finish_reason=last.finish_reason)
    calls = [
        {"index": position, **call.model_dump()} for position, call in enumerate(_tool_calls(text))
    ]
    return ChunkChoice(index=index, delta=ChunkDelta(tool_calls=calls), finish_reason="tool_calls")


# What OpenAI sends for a token the sampling ruled out (-inf): JSON has no infinity
LOGPROB_FLOOR = -9999.0


def logprobs(tokens) -> ChoiceLogprobs:
    def entry(token: str, logprob: float) -> dict:
        logprob = logprob if math.isfinite(logprob) else LOGPROB_FLOOR
        return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}

    return ChoiceLogprobs(
        content=[
            TokenLogprob(
                **entry(t.token, t.logprob), top_logprobs=[TopLogprob(**entry(*top)) for top in t.top]
            )
            for t in tokens
        ]
    )


def usage(lasts: list[Delta]) -> Usage:
    """The prompt counts once however many choices (as OpenAI's usage does), and so do its cached tokens."""
    prompt = lasts[0].prompt_tokens if lasts else 0
    cached = lasts[0].cached_tokens if lasts else 0
    completion = sum(last.completion_tokens for last in lasts)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
    )


# A piece of a streamed fixed answer: a word with the spaces before it, or up to three CJK characters.
_PIECE = re.compile(r"\s*[^\s\u3000-\u9fff\uff00-\uffef]+|\s*[\u3000-\u9fff\uff00-\uffef]{1,3}|\s+")


async def fixed_answer(
    text: str, tokenizer, max_tokens: int, prompt_tokens: int, pieces: bool = False
) -> AsyncIterator[Delta]:
    """An answer written without generating (a preset reply, the fallback, a curated answer) as the engine
    would give it: cut to max_tokens of the served model's tokenizer (finish_reason "length"), with its
    usage. `pieces`: in words, as a generated answer streams (the output rails see it as they see one),
    the text unchanged."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    finish = "stop"
    if len(ids) > max_tokens:
        ids, finish = ids[:max_tokens], "length"
        text = tokenizer.decode(ids).rstrip("\ufffd")  # a character cut in the middle of its bytes
    parts = (_PIECE.findall(text) if pieces else None) or [text]
    for part in parts[:-1]:
        yield Delta(text=part)
    yield Delta(text=parts[-1], finish_reason=finish, prompt_tokens=prompt_tokens, completion_tokens=len(ids))


async def merge(streams: list[AsyncIterator[Delta]]) -> AsyncIterator[tuple[int, Delta]]:
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

