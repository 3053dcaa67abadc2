"""Serving speed: ragtune's server against vLLM's own OpenAI server on the same model, load and prompts.

One run starts, one at a time:
- vLLM's own server without LoRA, as a user would start it (the baseline for base traffic), and again with
  the CPU settings ragtune chooses for this machine (core/hardware.py: front-end core reserve, tcmalloc), so
  the server's own cost and the machine's settings are told apart;
- vLLM's own server with --enable-lora (its LoRA tax, and its own CPU LoRA ops for adapter traffic);
- ragtune's server (vLLM engine, adapters loadable at any time) in the number format it chooses;
- with --other-format, ragtune forced to the other format (bfloat16 where it chose float32 and back).
The CPU's model and flags, the formats and ragtune's CPU choices are printed with the figures.

Load: concurrency 8, streaming, exactly 64 new tokens per request (min_tokens = max_tokens = 64),
the decoding ragtune serves the model with (greedy, frequency penalty), sent to every server so all sample
alike; the demo evaluation questions (a warm-up on other questions first, so the measured prompts
are not in the prefix cache before they are sent: cold). Figures: completion tokens/s over the whole run,
mean time to first token, and the share of prompt tokens the engine read from its prefix cache.

Same work on both sides: with RAG on, vLLM is sent the very prompt ragtune builds (system prompt plus the
retrieved sources, made here by ragtune's own retrieval and prompt builder), so the ratio is the cost of
ragtune's retrieval and server, not of the longer prompt; the mean prompt tokens of each run show it.
The adapter runs also compare LoRA kernels: vLLM's server runs vLLM's own CPU LoRA ops, ragtune its grouped
ones (server/engines/vllm_cpu_lora.py).

With --rails, two more ragtune servers compare the trust rails on (the demo's examples/rails/rules.yaml) with
all rails off, base model, RAG on; the relevance gate is off in every run, since it answers some questions
without generating.

    python benchmarks/serving.py [--requests 16] [--models base,adapter] [--rails] [--other-format]
                                 [--chosen-only] [--home /tmp/ragtune-bench] [--write-docs]

--write-docs puts the table into docs/benchmarks.md (benchmarks/docs_table.py). `--chosen-only` runs
ragtune alone (no vLLM server): the adapter/base and RAG-on/off figures in a few minutes.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import docs_table  # this folder's helpers, imported before the folder leaves sys.path
import httpx
from bench_adapter import write_bench_adapter
from prompt_planner import prompt_planner

REPO = Path(__file__).resolve().parents[1]
# This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
CONCURRENCY, NEW_TOKENS = 8, 64


async def one_request(client: httpx.AsyncClient, url: str, body: dict) -> tuple[float, int, int, int]:
    """(time to first token, completion tokens, prompt tokens, of those read from the prefix cache) of one
    streamed request."""
    started, first, tokens, prompt_tokens, cached = time.perf_counter(), None, 0, 0, 0
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as reply:
        reply.raise_for_status()
        async for line in reply.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if usage := chunk.get("usage"):
                tokens, prompt_tokens = usage["completion_tokens"], usage["prompt_tokens"]
                cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content") and first is None:
                first = time.perf_counter()
    return (first or time.perf_counter()) - started, tokens, prompt_tokens, cached


async def run_load(
    name: str, url: str, model: str, prompts: list[list[dict]], extra: dict, measuring=lambda: None
) -> dict:
    """The last CONCURRENCY prompts warm the server up (other questions than the measured ones: a warm-up on
    the measured prompts would put them in the prefix cache), the others are measured; `measuring` is called
    between the two."""
    warmup, prompts = prompts[-CONCURRENCY:], prompts[:-CONCURRENCY]
    limiter = asyncio.Semaphore(CONCURRENCY)

    def body(messages: list[dict]) -> dict:
        return {
            "model": model,
            "messages": messages,
            "max_tokens": NEW_TOKENS,
            "min_tokens": NEW_TOKENS,
            "stream": True,
            "stream_options": {"include_usage": True},
            **extra,
        }

    async def limited(client, messages):
        async with limiter:
            return await one_request(client, url, body(messages))

    async with httpx.AsyncClient(timeout=1200) as client:
        await asyncio.gather(*(limited(client, c) for c in warmup))
        measuring()
        started = time.perf_counter()
        results = await asyncio.gather(*(limited(client, c) for c in prompts))
        wall = time.perf_counter() - started
    ttfts = [ttft for ttft, _, _, _ in results]
    figures = {
        "tokens_per_s": sum(tokens for _, tokens, _, _ in results) / wall,
        "ttft_mean_s": statistics.mean(ttfts),
        "ttft_p50_s": statistics.median(ttfts),
        "prompt_tokens": statistics.mean(prompt for _, _, prompt, _ in results),
        "cached_share": sum(cached for *_, cached in results) / max(1, sum(p for _, _, p, _ in results)),
    }
    print(
        f"  {name}: {figures['tokens_per_s']:.1f} tokens/s, TTFT {figures['ttft_mean_s']:.3f}s, "
        f"{figures['prompt_tokens']:.0f} prompt tokens ({figures['cached_share']:.0%} from the prefix cache)",
        flush=True,
    )
    return figures


def prepare_home(home: Path, model_path: str) -> Path:
    """A fresh home with the demo knowledge base and the benchmark's LoRA adapter, named `bench`."""
    from core.adapters import AdapterInfo, write_adapter_info
    from core.chat_model import model_fingerprint
    from core.settings import Settings
    from knowledge import KnowledgeBase

    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home, chat_model=model_path)
    kb = KnowledgeBase.open(settings.kb_dir, settings.knowledge, settings.retrieval)
    kb.sync(REPO / "examples" / "knowledge", collection=settings.knowledge.default_collection)
    adapter = settings.adapters_dir / "bench"
    write_bench_adapter(model_path, adapter)
    write_adapter_info(
        adapter,
        AdapterInfo(
            name="bench", base_model="bench", rank=16, base_fingerprint=model_fingerprint(model_path)
        ),
    )
    return adapter


def conversations(home: Path, model_path: str, questions: list[str]) -> tuple[list, list]:
    """The same questions as ragtune's server sees them with RAG off and on, planned by ragtune's own chat
    service (system prompt, retrieval, prompt contract): vLLM's server is sent those very messages."""
    from core.settings import Settings
    from knowledge import KnowledgeBase
    from server.protocol import ChatCompletionRequest

    settings = Settings(home=home, chat_model=model_path)
    settings.rails.grounding.enabled = False  # every question generates: the load is the same on both sides
    kb = KnowledgeBase.open(settings.kb_dir, settings.knowledge, settings.retrieval)
    service = prompt_planner(settings, kb, model_path)

    def messages(question: str, rag: bool) -> list[dict]:
        request = ChatCompletionRequest(
            model="base",
            messages=[{"role": "user", "content": question}],
            max_tokens=NEW_TOKENS,
            rag={"enabled": rag},
        )
        return asyncio.run(service.plan(request)).prompt.messages

    return [messages(q, False) for q in questions], [messages(q, True) for q in questions]


@contextmanager
def serving(name: str, command: list[str], env: dict, log: Path, url: str, ready_path: str):
    from core.errors import RagtuneError
    from core.process import server_process

    try:
        with server_process(command, env, log, url + ready_path, name=name):
            yield
    except RagtuneError as err:
        sys.exit(str(err))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--models", default="base,adapter", help="which runs: base, adapter or both")
    parser.add_argument(
        "--rails",
        action="store_true",
        help="also compare ragtune with the demo's rails on and with rails off",
    )
    parser.add_argument(
        "--other-format",
        action="store_true",
        help="also ragtune forced to the number format it did not choose",
    )
    parser.add_argument(
        "--chosen-only",
        action="store_true",
        help="only ragtune in its chosen format (adapter/base and RAG-on/off figures, a few minutes): no baselines",
    )
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "ragtune-bench")
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    kinds = args.models.split(",")
    if not kinds or set(kinds) - {"base", "adapter"}:
        parser.error(f"--models: {args.models!r}: give base, adapter or base,adapter")

    from core.chat_model import EMBEDDED_CHAT_MODEL, prepare_chat_model
    from core.hardware import choose_cpu_runtime, choose_dtype, describe_cpu, usable_cores
    from core.settings import Settings
    from server.engines.vllm_cpu_lora import ENV_FLAG
    from server.service import served_decoding

    settings = Settings()
    model_path = prepare_chat_model(EMBEDDED_CHAT_MODEL, settings.models_dir)
    adapter = prepare_home(args.home, model_path)
    lines = (REPO / "examples" / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    wanted = args.requests + CONCURRENCY  # the last CONCURRENCY warm up (run_load)
    questions = (questions * (wanted // len(questions) + 1))[:wanted]
    plain, augmented = conversations(args.home, model_path, questions)
    decoding = served_decoding(settings.server, Path(model_path).name)
    bare = [[{"role": "user", "content": q}] for q in questions]  # ragtune adds its system prompt itself
    engine = settings.engine
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": str(engine.kv_cache_space_gib)}
    env[ENV_FLAG] = "0"  # the baselines are stock vLLM, whatever the shell says
    cpu = choose_cpu_runtime(engine.cpu_reserved_cores, engine.cpu_allocator, env)
    figures: dict[str, dict] = {}

    if not args.chosen_only:
        lora_args = ["--enable-lora", "--max-loras", str(engine.max_loras), "--max-lora-rank"]
        lora_args += [str(engine.max_lora_rank), "--lora-modules", f"bench={adapter}"]
        for label, extra_args, server_env, runs in [
            ("vllm", [], env, [("base", "base", plain), ("base", "base", augmented)]),
            ("vllm tuned", [], {**env, **cpu.env}, [("base", "base", plain), ("base", "base", augmented)]),
            ("vllm lora", lora_args, env, [("base", "base", plain), ("adapter", "bench", plain)]),
        ]:
            vllm_runs(
                label,
                model_path,
                extra_args,
                server_env,
                args.home,
                runs,
                kinds,
                augmented,
                decoding,
                figures,
            )

    dtype, why = choose_dtype(engine.dtype)
    rt_env = {
        **env,
        "RAGTUNE_HOME": str(args.home),
        "RAGTUNE_CHAT_MODEL": model_path,
        "RAGTUNE_ENGINE__KIND": "vllm",
        "RAGTUNE_ENGINE__GROUPED_CPU_LORA": "true",
        "RAGTUNE_ENGINE__DTYPE": engine.dtype,
        "RAGTUNE_RAILS__GROUNDING__ENABLED": "false",  # every question generates, as on vLLM's server
    }
    runs = [
        (kind, model, rag)
        for kind, model in (("base", Path(model_path).name), ("adapter", "bench"))
        for rag in (False, True)
        if kind in kinds
    ]
    other = "float32" if dtype == "bfloat16" else "bfloat16"
    ragtune_runs(f"ragtune {dtype}", rt_env, args.home, runs, bare, decoding, figures)
    if args.other_format:
        ragtune_runs(
            f"ragtune {other}",
            {**rt_env, "RAGTUNE_ENGINE__DTYPE": other},
            args.home,
            runs,
            bare,
            decoding,
            figures,
        )
    rails_figures: dict[str, dict] = {}
    if args.rails:
        rails_off = {
            **rt_env,
            "RAGTUNE_RAILS__INPUT_ENABLED": "false",
            "RAGTUNE_RAILS__OUTPUT_ENABLED": "false",
            "RAGTUNE_RAILS__HANDOFF_ENABLED": "false",
        }
        rails_on = {**rt_env, "RAGTUNE_RAILS__RULES_FILE": str(REPO / "examples" / "rails" / "rules.yaml")}
        run = [("base", Path(model_path).name, True)]
        ragtune_runs("rails off", rails_off, args.home, run, bare, decoding, rails_figures)
        ragtune_runs("rails on", rails_on, args.home, run, bare, decoding, rails_figures)

    machine = f"{describe_cpu()}, {usable_cores()} cores"
    print(f"\n{machine}; ragtune's chosen format: {dtype} ({why}); vLLM's own server: its default")
    print(f"ragtune's CPU choices (also 'vllm tuned'): {'; '.join(cpu.reasons)}")
    print(
        f"\nconcurrency {CONCURRENCY}, {NEW_TOKENS} new tokens, {args.requests} requests, streaming, {decoding}"
    )
    print(f"{'run':34} {'prompt tok':>10} {'cached':>7} {'tokens/s':>9} {'TTFT mean':>10} {'TTFT p50':>9}")
    for name, fig in {**figures, **rails_figures}.items():
        print(
            f"{name:34} {fig['prompt_tokens']:10.0f} {fig['cached_share']:7.0%} {fig['tokens_per_s']:9.1f} "
            f"{fig['ttft_mean_s']:9.3f}s {fig['ttft_p50_s']:8.3f}s"
        )
    verdicts = targets(figures, dtype, rails_figures)
    print("\n" + "\n".join(verdicts))
    if args.write_docs:
        note = (
            f"SmolLM2-135M-Instruct, {dtype}; {args.requests} streamed requests at concurrency {CONCURRENCY}, "
            f"{NEW_TOKENS} new tokens, decoding {decoding} on every server, cold prefix cache (warm-up on "
            f"other questions). Tokens/s / mean time to "
            f"the first token. ragtune's CPU choices: {'; '.join(cpu.reasons)}; 'tuned' is vLLM's own server "
            f"started with them.\n\n" + "\n".join(f"- {line}" for line in verdicts)
        )
        docs_table.write_table("serving", docs_table_text(figures, dtype, other), note=note, machine=machine)


def targets(figures: dict, dtype: str, rails_figures: dict) -> list[str]:
    """The ratios the serving targets are stated in, each with its target, for the figures at hand."""
    lines = []

    def ratio(text: str, numerator: str, denominator: str, key: str, target: str, invert: bool = False):
        top, bottom = figures.get(numerator), figures.get(denominator)
        if top and bottom:
            value = bottom[key] / top[key] if invert else top[key] / bottom[key]
            lines.append(f"{text}: {value:.2f} (target {target})")

    ours = f"ragtune {dtype}"
    for baseline, label in (("vllm", "vLLM's own server"), ("vllm tuned", "vLLM's own server, tuned")):
        ratio(
            f"base tokens/s, ragtune (adapters loadable) / {label} without LoRA",
            f"{ours} base RAG off",
            f"{baseline} base RAG off",
            "tokens_per_s",
            ">= 0.95",
        )
    ratio(
        "base tokens/s, vLLM's own server --enable-lora / without LoRA (its LoRA tax)",
        "vllm lora base RAG off",
        "vllm base RAG off",
        "tokens_per_s",
        "none",
    )
    for rag in ("off", "on"):
        ratio(
            f"adapter / base tokens/s, ragtune, RAG {rag}",
            f"{ours} adapter RAG {rag}",
            f"{ours} base RAG {rag}",
            "tokens_per_s",
            ">= 0.9",
        )
    for baseline, label in (("vllm", "vLLM's own server"), ("vllm tuned", "vLLM's own server, tuned")):
        ratio(
            f"RAG-on TTFT, ragtune / {label}, same prompts, cold",
            f"{ours} base RAG on",
            f"{baseline} base RAG on",
            "ttft_mean_s",
            "<= 1.0",
        )
    on, off = rails_figures.get("rails on base RAG on"), rails_figures.get("rails off base RAG on")
    if on and off:
        lines.append(
            f"the demo's rails on / off, base, RAG on: tokens/s {on['tokens_per_s'] / off['tokens_per_s']:.2f}, "
            f"TTFT {on['ttft_mean_s']:.2f} s against {off['ttft_mean_s']:.2f} s"
        )
    return lines


def docs_table_text(figures: dict, dtype: str, other: str) -> str:
    """The runs as docs/benchmarks.md shows them: one row per server, one column per model and RAG setting."""
    columns = [(kind, rag) for kind in ("base", "adapter") for rag in ("off", "on")]
    servers = [
        ("vLLM's own server, no LoRA (as a user starts it)", "vllm"),
        ("vLLM's own server, no LoRA, ragtune's CPU choices", "vllm tuned"),
        ("vLLM's own server --enable-lora", "vllm lora"),
        (f"ragtune, {dtype} (its choice), adapters loadable", f"ragtune {dtype}"),
        (f"ragtune forced to {other}", f"ragtune {other}"),
    ]
    rows = []
    for label, prefix in servers:
        cells = [figures.get(f"{prefix} {kind} RAG {rag}") for kind, rag in columns]
        if any(cells):
            rows.append(
                [label] + [f"{c['tokens_per_s']:.1f} / {c['ttft_mean_s']:.2f} s" if c else "—" for c in cells]
            )
    header = ["server"] + [f"{kind} RAG {rag}" for kind, rag in columns]
    return docs_table.markdown_table(header, rows)


def vllm_runs(
    label: str,
    model_path: str,
    extra_args: list[str],
    env: dict,
    home: Path,
    runs: list,
    kinds: list[str],
    augmented: list,
    decoding: dict,
    figures: dict,
) -> None:
    """Start vLLM's own OpenAI server with `extra_args` and `env` and put one load per (kind, model, prompts)
    of `runs` into `figures`."""
    from core.process import free_port
    from core.settings import Settings

    engine = Settings().engine
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
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
        "--gpu-memory-utilization",
        str(engine.gpu_memory_utilization),
        "--disable-log-stats",  # as ragtune's engine
        "--enable-prompt-tokens-details",  # reports the prefix cache's share, as ragtune does; no cost
        *extra_args,
    ]
    print(f"{label}: vLLM's OpenAI server {' '.join(extra_args[:1])} ...", flush=True)
    with serving(label, command, env, home / f"{label.replace(' ', '-')}.log", url, "/health"):
        for kind, model, prompts in runs:
            if kind in kinds:
                name = f"{label} {kind} RAG {'on' if prompts is augmented else 'off'}"
                figures[name] = asyncio.run(run_load(name, url, model, prompts, decoding))


def ragtune_runs(
    label: str, env: dict, home: Path, runs: list, prompts: list, decoding: dict, figures: dict
) -> None:
    """Start ragtune's server with `env` and put one load per (kind, model, rag) of `runs` into `figures`."""
    from core.process import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"{label} ...", flush=True)
    command = [sys.executable, "-c", "from ragtune.cli import main; main()", "serve", "--port", str(port)]
    with serving(label, command, env, home / f"{label.replace(' ', '-')}.log", url, "/readyz"):
        marks: list[tuple[float, float]] = []  # the server's retrieval totals when each measured part began
        for kind, model, rag in runs:
            name = f"{label} {kind} RAG {'on' if rag else 'off'}"
            figures[name] = asyncio.run(
                run_load(
                    name,
                    url,
                    model,
                    prompts,
                    {**decoding, "rag": {"enabled": rag}},
                    lambda: marks.append(retrieval_time(url)),
                )
            )
            seconds, searches = (now - then for now, then in zip(retrieval_time(url), marks[-1]))
            if searches:
                figures[name]["retrieval_mean_s"] = seconds / searches
                print(
                    f"  {name}: retrieval {seconds / searches * 1000:.0f} ms a measured request (server metrics)"
                )


def retrieval_time(url: str) -> tuple[float, float]:
    """The server's total retrieval seconds and searches so far (its Prometheus metrics; warm-ups included)."""
    totals = {"sum": 0.0, "count": 0.0}
    for line in httpx.get(url + "/metrics").text.splitlines():
        for key in totals:
            if line.startswith(f"ragtune_retrieval_latency_seconds_{key} "):
                totals[key] = float(line.split()[-1])
    return totals["sum"], totals["count"]


if __name__ == "__main__":
    main()
