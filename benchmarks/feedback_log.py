"""Conversation-log benchmark: prints figures and on/off ratios measured in the same run.

1. the caller's cost of `record()` per row (what a chat request pays), and the writer's cost per row
   (masking + batched inserts), with and without personal-data masking
2. masking one text: feedback.privacy.mask_text (a quick pre-check on the folded text, then the full matcher
   only where it may find something) against the full matcher on every text, Chinese and English
3. a simulated server: 64 concurrent requests on one asyncio loop (CPU work + a wait for generation each),
   log off vs on: throughput and latency p50/p95, and the rows dropped

Usage: python benchmarks/feedback_log.py [--rows 20000] [--requests 6000] [--concurrency 64]
                                         [--cpu-ms 0.5] [--wait-ms 20] [--repeats 3]
                                         [--database-url postgresql://...]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from core.pii import mask_personal_data
from feedback.log import ConversationLog
from feedback.privacy import mask_text
from feedback.records import ChatRecord
from feedback.store import FeedbackStore, PostgresStore, SqliteStore

QUESTION = (
    "Hello, my order 1234 has not arrived. My mail is jane.doe@example.com, phone 13812345678. Where is it?"
)
ANSWER = (
    "Your order shipped on Monday [1]. Delivery takes 3-5 working days [2]; track it in your account. " * 3
)
SOURCES = [
    {
        "source": f"policies/shipping-{i}.md",
        "title": "Shipping",
        "document_id": f"d{i}",
        "chunk_id": f"c{i}",
        "score": 0.8,
    }
    for i in range(4)
]


def record(n: int) -> ChatRecord:
    return ChatRecord(
        response_id=f"chatcmpl-{n}",
        model="assistant",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}],
        answer=ANSWER,
        sources=SOURCES,
        adapter="support-v2",
        collection="support",
        experiment="exp",
        variant="b",
        decisions={"grounding": {"fallback": False, "top_score": 0.8}, "handoff": None, "rails": {}},
        latency_s=0.9,
        prompt_tokens=420,
        completion_tokens=60,
        user_id=f"user-{n % 500}",
    )


def open_store(url: str | None, folder: Path, name: str) -> FeedbackStore:
    store = PostgresStore(url) if url else SqliteStore(folder / f"{name}.sqlite")
    store.migrate()
    if url:
        with store._cursor() as cursor:
            cursor.execute("TRUNCATE chat_log, feedback, experiments, assignments")
    return store


def writer_cost(rows: int, mask: bool, url: str | None, folder: Path) -> tuple[float, float]:
    """(µs per record() call, µs per row in the writer from first record to last write)."""
    store = open_store(url, folder, f"writer-{mask}")
    log = ConversationLog(store, queue_size=rows + 10, batch_size=500, mask_pii=mask)
    records = [record(n) for n in range(rows)]
    log.start()
    started = time.perf_counter()
    for r in records:
        log.record(r)
    queued = time.perf_counter()
    log.close(timeout=600)
    written = time.perf_counter()
    assert store.count_chats() == rows and log.dropped == 0
    store.close()
    return (queued - started) / rows * 1e6, (written - started) / rows * 1e6


TEXTS = {
    "en, nothing personal": ANSWER,
    "zh, nothing personal": "您的订单已于周一发货[1]。配送需要3到5个工作日[2]，请在账户中查看物流信息。" * 3,
    "en, e-mail and phone": QUESTION,
    "zh, fullwidth e-mail": "你好，我的订单1234还没到。邮箱 jane.doe＠example.com，电话１３８１２３４５６７８。",
}


def pre_check_cost(repeats: int) -> None:
    """µs per text of mask_text against mask_personal_data (the same result, no pre-check)."""
    for name, text in TEXTS.items():
        assert mask_text(text) == mask_personal_data(text)
        costs = []
        for mask in (mask_text, mask_personal_data):
            started = time.perf_counter()
            for _ in range(repeats):
                mask(text)
            costs.append((time.perf_counter() - started) / repeats * 1e6)
        print(
            f"  {name:21}: with the pre-check {costs[0]:6.1f} µs, full matcher {costs[1]:6.1f} µs, "
            f"x{costs[0] / costs[1]:.2f}"
        )


async def serve(requests: int, concurrency: int, cpu_ms: float, wait_ms: float, log: ConversationLog | None):
    """Requests per second and latencies (ms) of a loop that spends cpu_ms on the CPU and waits wait_ms."""
    latencies: list[float] = []
    counter = iter(range(requests))

    async def worker() -> None:
        for n in counter:
            begin = time.perf_counter()
            spin_until = begin + cpu_ms / 1000
            while time.perf_counter() < spin_until:  # the server's own work: parsing, prompt, rails
                pass
            await asyncio.sleep(wait_ms / 1000)  # generation in the engine's process
            if log is not None:
                log.record(record(n))
            latencies.append((time.perf_counter() - begin) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started), latencies


def loop_overhead(args, folder: Path) -> None:
    """Runs off and on alternately `repeats` times (the machine may be shared) and compares the medians."""
    runs: dict[str, list[tuple[float, float, float, int]]] = {"off": [], "on": []}
    for _ in range(args.repeats):
        for mode, results in runs.items():
            store = open_store(args.database_url, folder, "loop") if mode == "on" else None
            log = ConversationLog(store, queue_size=10000) if store else None
            if log:
                log.start()
            rate, latencies = asyncio.run(
                serve(args.requests, args.concurrency, args.cpu_ms, args.wait_ms, log)
            )
            if log:
                log.close(timeout=600)
                store.close()
            q = statistics.quantiles(latencies, n=20)
            results.append((rate, q[9], q[18], log.dropped if log else 0))
    medians = {mode: [statistics.median(r[i] for r in rows) for i in range(3)] for mode, rows in runs.items()}
    for mode, (rate, p50, p95) in medians.items():
        dropped = sum(r[3] for r in runs[mode])
        print(
            f"  log {mode:3}: {rate:7.0f} requests/s, latency p50 {p50:6.2f} ms, p95 {p95:6.2f} ms, "
            f"dropped {dropped} (medians of {args.repeats})"
        )
    (off_rate, off_p50, off_p95), (on_rate, on_p50, on_p95) = medians["off"], medians["on"]
    print(
        f"  on/off: throughput x{on_rate / off_rate:.3f}, p50 x{on_p50 / off_p50:.3f}, p95 x{on_p95 / off_p95:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--cpu-ms", type=float, default=0.5)
    parser.add_argument("--wait-ms", type=float, default=20.0)
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternating off/on runs of the simulated server"
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL; default: SQLite in a temp folder")
    args = parser.parse_args()
    backend = "PostgreSQL" if args.database_url else "SQLite (WAL)"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"1. writer cost per row, {args.rows} rows, {backend}")
        costs = {mask: writer_cost(args.rows, mask, args.database_url, folder) for mask in (False, True)}
        for mask, (caller, writer) in costs.items():
            print(
                f"  masking {'on ' if mask else 'off'}: record() {caller:5.2f} µs/row on the caller, "
                f"writer {writer:6.1f} µs/row ({1e6 / writer:,.0f} rows/s)"
            )
        print(f"  masking on/off in the writer: x{costs[True][1] / costs[False][1]:.2f}")
        print("2. masking one text")
        pre_check_cost(2000)
        print(
            f"3. simulated server: {args.requests} requests, {args.concurrency} concurrent, "
            f"{args.cpu_ms} ms CPU + {args.wait_ms} ms wait each, {backend}"
        )
        loop_overhead(args, folder)


if __name__ == "__main__":
    main()
