"""Adapter against base traffic on ragtune's vLLM engine alone (no HTTP server, no rails, no retrieval): the
LoRA cost of the engine itself, with less noise than a server run.

One engine (ragtune's settings, adapters loadable) serves rounds of base and adapter traffic alternately, in
one process, so both see the same machine: each round 32 short chat prompts at concurrency 8, exactly 64 new
tokens each, the decoding ragtune serves the model with. The adapter is a rank-16 LoRA of q/k/v/o with weights
in every part (bench_adapter.py), loaded after the engine started, as an admin load is. Prints tokens/s and
time to the first token per round, the adapter/base ratio of the medians, and the peak memory of vLLM's
processes.

    python benchmarks/lora_engine.py [--rounds 3] [--write-docs]
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONCURRENCY, NEW_TOKENS, PROMPTS = 8, 64, 32


async def one_round(engine, prompts: list[list[int]], params, adapter: str | None) -> tuple[float, float]:
    """(tokens/s over the round, mean time to the first token) of `prompts` at CONCURRENCY."""
    limiter = asyncio.Semaphore(CONCURRENCY)

    async def one(prompt: list[int]) -> tuple[int, float]:
        async with limiter:
            started, first, tokens = time.perf_counter(), None, 0
            async for delta in engine.generate(prompt, params, adapter):
                if first is None and delta.completion_tokens:
                    first = time.perf_counter() - started
                tokens = delta.completion_tokens
            return tokens, first or 0.0

    started = time.perf_counter()
    results = await asyncio.gather(*(one(p) for p in prompts))
    wall = time.perf_counter() - started
    return sum(t for t, _ in results) / wall, statistics.mean(f for _, f in results)


def engine_peak_memory_gib() -> float:
    """The peak resident memory of vLLM's processes under this one (the kernel's high-water mark, VmHWM)."""
    import psutil

    total_kib = 0
    for process in psutil.Process().children(recursive=True):
        status = Path(f"/proc/{process.pid}/status").read_text()
        total_kib += int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
    return total_kib / 2**20


async def main(rounds: int, write_docs: bool) -> None:
    from core.chat_model import EMBEDDED_CHAT_MODEL, prepare_chat_model
    from core.hardware import describe_cpu, usable_cores
    from core.prompt import DEFAULT_SYSTEM_PROMPT
    from core.settings import Settings
    from server.engines.base import SamplingParams
    from server.engines.vllm_engine import VllmEngine
    from server.service import served_decoding

    settings = Settings()
    model_path = prepare_chat_model(EMBEDDED_CHAT_MODEL, settings.models_dir)
    adapter = Path(tempfile.mkdtemp()) / "bench"
    write_bench_adapter(model_path, adapter)

    engine = VllmEngine(model_path, settings.engine)
    print(engine.describe(), flush=True)
    await engine.load_adapter("bench", adapter)
    lines = (REPO / "examples" / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    system = {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}
    prompts = [
        engine.tokenizer.apply_chat_template(
            [system, {"role": "user", "content": q}], add_generation_prompt=True, tokenize=False
        )
        for q in (questions * 2)[: PROMPTS + CONCURRENCY]
    ]
    prompts = [engine.tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    decoding = served_decoding(settings.server, Path(model_path).name)
    params = SamplingParams(max_tokens=NEW_TOKENS, min_tokens=NEW_TOKENS, **decoding)
    warmup, measured = prompts[:CONCURRENCY], prompts[CONCURRENCY:]
    for name in (None, "bench"):  # compiles each shape once before anything is measured
        await one_round(engine, warmup, params, name)

    figures: dict[str, list[tuple[float, float]]] = {"base": [], "adapter": []}
    for number in range(rounds):
        for kind, name in (("base", None), ("adapter", "bench")):
            tokens_per_s, ttft = await one_round(engine, measured, params, name)
            figures[kind].append((tokens_per_s, ttft))
            print(
                f"round {number + 1} {kind:7s}: {tokens_per_s:6.1f} tokens/s, TTFT {ttft:.3f} s", flush=True
            )
    peak_gib = engine_peak_memory_gib()
    engine.shutdown()

    median = {kind: statistics.median(t for t, _ in rows) for kind, rows in figures.items()}
    ratio = median["adapter"] / median["base"]
    machine = f"{describe_cpu()}, {usable_cores()} cores"
    print(
        f"\n{machine}; {engine.dtype}; medians of {rounds} rounds: base {median['base']:.1f} tokens/s, "
        f"adapter {median['adapter']:.1f}; adapter/base {ratio:.2f}; engine processes' peak memory {peak_gib:.2f} GiB"
    )
    if write_docs:
        rows = "\n".join(
            f"| {kind} | {' / '.join(f'{t:.1f}' for t, _ in rows)} | {median[kind]:.1f} |"
            for kind, rows in figures.items()
        )
        table = "| traffic | tokens/s, each round | median |\n|---|---|---|\n" + rows
        note = (
            f"ragtune's vLLM engine alone, SmolLM2-135M-Instruct, {engine.dtype}; rounds of {PROMPTS} chat "
            f"prompts at concurrency {CONCURRENCY}, {NEW_TOKENS} new tokens, base and adapter (rank 16, q/k/v/o) "
            f"alternating in one process. Adapter / base: {ratio:.2f} (target >= 0.9). Peak resident memory of "
            f"vLLM's processes: {peak_gib:.2f} GiB."
        )
        docs_table.write_table("lora_engine", table, note=note, machine=machine)


if __name__ == "__main__":  # vLLM's engine processes import this file again: nothing below runs there
    import docs_table  # this folder's helpers, imported before the folder leaves sys.path
    from bench_adapter import write_bench_adapter

    # This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.write_docs))
