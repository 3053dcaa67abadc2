"""Serving speed: ragtune's server against vLLM's own OpenAI server on the same model and load.

Load: concurrency 8, streaming, exactly 64 new tokens per request (min_tokens = max_tokens = 64),
temperature 0, the demo evaluation questions. Figures: completion tokens/s over the whole run and
mean time to first token. Ratios are ragtune relative to the baseline (1.0 = as fast; for TTFT the
ratio is baseline_ttft / ragtune_ttft, so higher is better there too). Targets: >= 0.95 with RAG off,
>= 0.90 with RAG on. One server runs at a time.

    python benchmarks/serving.py [--requests 32] [--home /tmp/ragtune-bench]
"""

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
# This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
CONCURRENCY, NEW_TOKENS = 8, 64
SYSTEM_PROMPT = "You are a helpful customer-service assistant."  # ragtune's default, sent to vLLM too


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict, log: Path, url: str, ready_path: str) -> subprocess.Popen:
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited ({process.returncode}); see {log}")
        try:
            if httpx.get(url + ready_path, timeout=5).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(1)
    process.kill()
    sys.exit(f"server not ready after 600 s; see {log}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


async def one_request(client: httpx.AsyncClient, url: str, body: dict) -> tuple[float, int]:
    started, first, tokens = time.perf_counter(), None, 0
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as reply:
        reply.raise_for_status()
        async for line in reply.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content") and first is None:
                first = time.perf_counter()
    return (first or time.perf_counter()) - started, tokens


async def run_load(url: str, model: str, questions: list[str], extra: dict, system: bool) -> dict:
    limiter = asyncio.Semaphore(CONCURRENCY)

    def body(question: str) -> dict:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}] if system else []
        messages.append({"role": "user", "content": question})
        return {
            "model": model,
            "messages": messages,
            "max_tokens": NEW_TOKENS,
            "min_tokens": NEW_TOKENS,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
            **extra,
        }

    async def limited(client, question):
        async with limiter:
            return await one_request(client, url, body(question))

    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(*(limited(client, q) for q in questions[:CONCURRENCY]))  # warm-up
        started = time.perf_counter()
        results = await asyncio.gather(*(limited(client, q) for q in questions))
        wall = time.perf_counter() - started
    ttfts = [ttft for ttft, _ in results]
    print(
        f"  {model} {extra or ''}: {sum(t for _, t in results) / wall:.1f} tokens/s, TTFT {statistics.mean(ttfts):.3f}s",
        flush=True,
    )
    return {
        "tokens_per_s": sum(t for _, t in results) / wall,
        "ttft_mean_s": statistics.mean(ttfts),
        "ttft_p50_s": statistics.median(ttfts),
        "requests": len(results),
    }


def prepare_home(home: Path, model_path: str) -> Path:
    """A fresh home with the demo knowledge base and a rank-16 LoRA adapter named `bench`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from knowledge import KnowledgeBase
    from ragtune.settings import Settings
    from training.adapters import AdapterInfo, write_adapter_info
    from training.base_model import model_fingerprint

    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home, chat_model=model_path)
    kb = KnowledgeBase.open(settings.kb_dir, settings.knowledge, settings.retrieval)
    kb.sync(REPO / "examples" / "knowledge", collection=settings.knowledge.default_collection)
    adapter = settings.adapters_dir / "bench"
    lora = LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    get_peft_model(AutoModelForCausalLM.from_pretrained(model_path), lora).save_pretrained(adapter)
    write_adapter_info(
        adapter,
        AdapterInfo(
            name="bench", base_model="bench", rank=16, base_fingerprint=model_fingerprint(model_path)
        ),
    )
    return adapter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "ragtune-bench")
    args = parser.parse_args()

    from ragtune.settings import Settings
    from training.base_model import EMBEDDED_CHAT_MODEL, prepare_chat_model

    settings = Settings()
    model_path = prepare_chat_model(EMBEDDED_CHAT_MODEL, settings.models_dir)
    adapter = prepare_home(args.home, model_path)
    lines = (REPO / "examples" / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    questions = (questions * (args.requests // len(questions) + 1))[: args.requests]
    engine = settings.engine
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": str(engine.kv_cache_space_gib)}
    figures: dict[str, dict] = {}

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"baseline: vLLM's OpenAI server on {model_path} ...", flush=True)
    vllm = start(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            model_path,
            "--served-model-name",
            "base",
            "--port",
            str(port),
            "--max-model-len",
            str(engine.max_model_len),
            "--enable-lora",
            "--max-loras",
            str(engine.max_loras),
            "--max-lora-rank",
            str(engine.max_lora_rank),
            "--gpu-memory-utilization",
            str(engine.gpu_memory_utilization),
            "--lora-modules",
            f"bench={adapter}",
        ],
        env,
        args.home / "vllm.log",
        url,
        "/health",
    )
    try:
        figures["vllm base"] = asyncio.run(run_load(url, "base", questions, {}, system=True))
        figures["vllm adapter"] = asyncio.run(run_load(url, "bench", questions, {}, system=True))
    finally:
        stop(vllm)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print("ragtune serve ...", flush=True)
    rt_env = {
        **env,
        "RAGTUNE_HOME": str(args.home),
        "RAGTUNE_CHAT_MODEL": model_path,
        "RAGTUNE_ENGINE__KIND": "vllm",
    }
    ragtune = [sys.executable, "-c", "from ragtune.cli import main; main()", "serve", "--port", str(port)]
    server = start(ragtune, rt_env, args.home / "ragtune.log", url, "/readyz")
    try:
        model = Path(model_path).name
        for name, target, rag in [
            ("ragtune base RAG off", model, False),
            ("ragtune base RAG on", model, True),
            ("ragtune adapter RAG off", "bench", False),
            ("ragtune adapter RAG on", "bench", True),
        ]:
            figures[name] = asyncio.run(
                run_load(url, target, questions, {"rag": {"enabled": rag}}, system=False)
            )
    finally:
        stop(server)

    print(f"\nconcurrency {CONCURRENCY}, {NEW_TOKENS} new tokens, {args.requests} requests, streaming")
    print(
        f"{'run':28} {'tokens/s':>9} {'TTFT mean':>10} {'TTFT p50':>9} {'tok/s ratio':>12} {'TTFT ratio':>11}"
    )
    for name, fig in figures.items():
        base = figures["vllm adapter" if "adapter" in name else "vllm base"]
        print(
            f"{name:28} {fig['tokens_per_s']:9.1f} {fig['ttft_mean_s']:9.3f}s {fig['ttft_p50_s']:8.3f}s "
            f"{fig['tokens_per_s'] / base['tokens_per_s']:12.2f} {base['ttft_mean_s'] / fig['ttft_mean_s']:11.2f}"
        )
    print(
        "targets: ratios >= 0.95 with RAG off, >= 0.90 with RAG on (ratios are against vLLM's server; "
        "TTFT ratio = vLLM TTFT / ragtune TTFT)"
    )


if __name__ == "__main__":
    main()
