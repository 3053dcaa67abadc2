"""The transformers+PEFT fallback engine: adapters per request, isolated under concurrency."""

import asyncio
from contextlib import aclosing

import pytest

from core.prompt import render_prompt
from core.settings import EngineSettings
from server.engines import SamplingParams
from server.engines.hf_engine import HfEngine

pytestmark = pytest.mark.slow
MESSAGES = [{"role": "user", "content": "Name a colour."}]


def prompt_ids(engine) -> list[int]:
    return engine.tokenizer(render_prompt(MESSAGES, engine.tokenizer), add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def engine(chat_model_path, tmp_path_factory, adapter_factory):
    hf = HfEngine(chat_model_path, EngineSettings())
    folder = adapter_factory(chat_model_path, tmp_path_factory.mktemp("adapters") / "tiny", "tiny")
    asyncio.run(hf.load_adapter("tiny", folder))
    return hf


async def _answer(engine, adapter, max_tokens=10, stop=(), **sampling):
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, stop=list(stop), **sampling)
    deltas = [d async for d in engine.generate(prompt_ids(engine), params, adapter)]
    return "".join(d.text for d in deltas), deltas[-1]


def test_concurrent_requests_never_see_each_others_adapter(engine):
    base, _ = asyncio.run(_answer(engine, None))
    tuned, _ = asyncio.run(_answer(engine, "tiny"))
    assert base != tuned

    async def mixed():
        return await asyncio.gather(*(_answer(engine, a) for a in [None, "tiny", None, "tiny", "tiny", None]))

    answers = [text for text, _ in asyncio.run(mixed())]
    assert answers == [base, tuned, base, tuned, tuned, base]


def test_usage_finish_reason_and_stop_strings(engine):
    _, last = asyncio.run(_answer(engine, "tiny", max_tokens=6))
    assert last.finish_reason == "length" and last.completion_tokens == 6 and last.prompt_tokens > 0
    full, _ = asyncio.run(_answer(engine, None, max_tokens=10))
    word = full.split()[1]
    cut, last = asyncio.run(_answer(engine, None, max_tokens=10, stop=[word]))
    assert last.finish_reason == "stop" and word not in cut and full.startswith(cut)


def test_a_stop_string_across_tokens_is_never_streamed_in_part(engine):
    full, _ = asyncio.run(_answer(engine, None, max_tokens=10))
    space = full.index(" ", 2)
    stop = full[space - 2 : space + 3]  # the end of one word, the space and the start of the next
    streamed, last = asyncio.run(_answer(engine, None, max_tokens=10, stop=[stop]))
    assert streamed == full[: space - 2] and last.finish_reason == "stop"


def test_closing_a_stream_early_frees_the_engine(engine):
    async def first_piece_then_leave():
        params = SamplingParams(max_tokens=500, temperature=0.0)
        async with aclosing(engine.generate(prompt_ids(engine), params, "tiny")) as stream:
            async for _ in stream:
                break

    asyncio.run(first_piece_then_leave())
    assert engine.running() == 0
    _, last = asyncio.run(_answer(engine, None, max_tokens=4))  # the lock was released
    assert last.completion_tokens == 4


def test_unloading_the_last_adapter_restores_the_base_model(chat_model_path, tmp_path, adapter_factory):
    hf = HfEngine(chat_model_path, EngineSettings())
    base, _ = asyncio.run(_answer(hf, None))

    async def load_then_unload() -> None:
        await hf.load_adapter("tiny", adapter_factory(chat_model_path, tmp_path / "tiny", "tiny"))
        await hf.unload_adapter("tiny")
        assert hf.adapters() == []  # at once; the engine removes it in the background
        while hasattr(hf.model, "peft_config"):  # still wrapped by PEFT
            await asyncio.sleep(0.05)

    asyncio.run(asyncio.wait_for(load_then_unload(), timeout=60))
    assert asyncio.run(_answer(hf, None))[0] == base


def test_penalties_change_a_repetitive_answer(engine):
    """OpenAI's frequency/presence penalties and vLLM's repetition penalty work on the fallback engine too."""
    plain, _ = asyncio.run(_answer(engine, None, max_tokens=24))
    for sampling in ({"frequency_penalty": 2.0}, {"presence_penalty": 2.0}, {"repetition_penalty": 1.8}):
        penalised, _ = asyncio.run(_answer(engine, None, max_tokens=24, **sampling))
        assert penalised != plain, sampling
