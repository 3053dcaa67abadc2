"""Admission under a flood: many streaming chats at once against one `ragtune serve` with
server.max_concurrent_requests set. Prints the share answered and the share refused with 429 (and any other
status: should be none), the p50/p95 latency of the answered ones, how long the refused ones took to be
told, the slowest /healthz meanwhile, and whether anything hung (a stream unfinished at the end).

Load: --streams chats sent at once (short questions, --tokens new tokens, streamed, RAG on, the demo
knowledge base), the server's default engine.

    python benchmarks/admission.py [--streams 1000] [--limit 32] [--tokens 16] [--home /tmp/ragtune-admission]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

# This folder comes first on sys.path and its scripts would shadow the packages of the same name: it moves
# last (benchmarks.serving still finds its docs_table there), after the repository root.
BENCHMARKS = Path(__file__).resolve().parent
sys.path[:] = [str(BENCHMARKS.parent), *(p for p in sys.path if Path(p or ".").resolve() != BENCHMARKS)]
sys.path.append(str(BENCHMARKS))
QUESTIONS = ["How fast is shipping?", "Can I return a gadget?", "How much is express delivery?"]
HUNG_AFTER_S = 600.0  # a stream still open this long is counted as hung


async def one_stream(
    client: httpx.AsyncClient, model: str, question: str, tokens: int
) -> tuple[int, float, bool]:
    """(status, seconds until the answer ended or the refusal arrived, whether it ended with [DONE])."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": tokens,
        "stream": True,
    }
    started = time.perf_counter()
    async with client.stream("POST", "/v1/chat/completions", json=body) as reply:
        text = (await reply.aread()).decode()
        done = reply.status_code == 200 and text.rstrip().endswith("data: [DONE]") and '"error"' not in text
        return reply.status_code, time.perf_counter() - started, done


async def health_meanwhile(client: httpx.AsyncClient, stop: asyncio.Event) -> list[float]:
    seconds = []
    while not stop.is_set():
        started = time.perf_counter()
        await client.get("/healthz")
        seconds.append(time.perf_counter() - started)
        await asyncio.sleep(0.1)
    return seconds


async def run(url: str, key: str, model: str, streams: int, tokens: int) -> dict:
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams + 10)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=HUNG_AFTER_S
    ) as client:
        stop = asyncio.Event()
        health = asyncio.create_task(health_meanwhile(client, stop))
        started = time.perf_counter()
        results = await asyncio.gather(
            *(one_stream(client, model, QUESTIONS[i % len(QUESTIONS)], tokens) for i in range(streams)),
            return_exceptions=True,
        )
        wall = time.perf_counter() - started
        stop.set()
        health_s = await health
    hung = [r for r in results if isinstance(r, Exception)]
    done = [r for r in results if not isinstance(r, Exception)]
    statuses = Counter(status for status, _, _ in done)
    answered = sorted(s for status, s, finished in done if status == 200 and finished)
    refused = sorted(s for status, s, _ in done if status == 429)
    return {
        "streams": streams,
        "statuses": dict(statuses),
        "answered": answered,
        "refused": refused,
        "unfinished": sum(1 for status, _, finished in done if status == 200 and not finished),
        "hung": [repr(e)[:200] for e in hung],
        "wall_s": wall,
        "health_s": health_s,
    }


def percentile(values: list[float], share: float) -> float:
    return (
        statistics.quantiles(values, n=100)[int(share * 100) - 1] if len(values) > 1 else (values or [0])[0]
    )


def report(figures: dict, limit: int) -> None:
    n = figures["streams"]
    answered, refused = figures["answered"], figures["refused"]
    print(f"  {n} streams at once against max_concurrent_requests={limit}, in {figures['wall_s']:.1f} s")
    print(f"  statuses: {figures['statuses']}")
    print(
        f"  answered {len(answered)} ({len(answered) / n:.1%}): p50 {percentile(answered, 0.5):.2f} s, "
        f"p95 {percentile(answered, 0.95):.2f} s"
    )
    if refused:
        print(
            f"  refused with 429: {len(refused)} ({len(refused) / n:.1%}), told within "
            f"p95 {percentile(refused, 0.95):.3f} s"
        )
    health = figures["health_s"]
    print(f"  /healthz meanwhile: {len(health)} checks, slowest {max(health, default=0):.3f} s")
    print(
        f"  unfinished streams: {figures['unfinished']}, hung or failed connections: {len(figures['hung'])}"
    )
    for why in figures["hung"][:5]:
        print(f"    {why}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=32, help="server.max_concurrent_requests")
    parser.add_argument("--tokens", type=int, default=16, help="new tokens per answer")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "ragtune-admission")
    args = parser.parse_args()

    from benchmarks.serving import prepare_home, serving
    from core.chat_model import EMBEDDED_CHAT_MODEL, prepare_chat_model
    from core.process import free_port
    from core.settings import Settings

    model_path = prepare_chat_model(EMBEDDED_CHAT_MODEL, Settings().models_dir)
    prepare_home(args.home, model_path)  # the demo knowledge base
    port, key = free_port(), "bench-client"
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(args.home),
        "RAGTUNE_CHAT_MODEL": model_path,
        "RAGTUNE_SERVER__CLIENT_KEYS": json.dumps([key]),
        "RAGTUNE_SERVER__MAX_CONCURRENT_REQUESTS": str(args.limit),
    }
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from ragtune.cli import main; main()", "serve", "--port", str(port)]
    print(f"admission: {args.streams} streaming chats at once ({args.tokens} tokens, RAG on)")
    with serving("ragtune serve", command, env, args.home / "server.log", url, "/readyz"):
        figures = asyncio.run(run(url, key, Path(model_path).name, args.streams, args.tokens))
    report(figures, args.limit)


if __name__ == "__main__":
    main()
