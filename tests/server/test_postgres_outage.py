"""PostgreSQL stopped mid-load under a real `ragtune serve` that logs to it (and shares the keys' rates
through it): chat requests in Chinese and English, streamed and not, keep being answered with no 5xx and
none ended by server.request_timeout_s, and once PostgreSQL is back every answered response is in the
conversation log. Engine: transformers (starts in seconds; the database sits beside any engine)."""

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from core.process import free_port, server_process
from tests.postgres import postgres_cluster
from tests.server.conftest import CLIENT_KEY

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
MODEL = "SmolLM2-135M-Instruct"
DEADLINE_S = 120  # server.request_timeout_s: a request stalled by the database would end with a 503 at it
LIMITED = {"key": "limited-key", "name": "limited", "rate": {"requests_per_minute": 1000}}
QUESTIONS = ["How fast does Northwind Gadgets ship an order?", "Northwind Gadgets 发货要多久？"]
PHASES = (3, 6, 3)  # requests answered before the stop, while PostgreSQL is down, and after it is back
LOGGED_WITHIN_S = 120  # the log's writer retries with backoff: at most 30 s apart


@pytest.fixture(scope="module")
def served(tmp_path_factory, chat_model_path):
    home = tmp_path_factory.mktemp("outage-home")
    with postgres_cluster() as cluster:
        port = free_port()
        env = {
            **os.environ,
            "RAGTUNE_HOME": str(home),
            "RAGTUNE_CHAT_MODEL": chat_model_path,
            "RAGTUNE_ENGINE__KIND": "transformers",
            "RAGTUNE_FEEDBACK__DATABASE_URL": cluster.url,
            "RAGTUNE_SERVER__CLIENT_KEYS": json.dumps([CLIENT_KEY, LIMITED]),
            "RAGTUNE_SERVER__REQUEST_TIMEOUT_S": str(DEADLINE_S),
        }
        url = f"http://127.0.0.1:{port}"
        ragtune = shutil.which("ragtune", path=str(Path(sys.executable).parent)) or "ragtune"
        command = [ragtune, "serve", "--port", str(port)]
        with server_process(command, env, home / "server.log", f"{url}/readyz", name="outage"):
            yield url, cluster


def one_request(url: str, n: int) -> tuple[int, str | None, str]:
    """(status, response id, what came back) of the n-th request: both languages, streamed or not,
    through a key with a rate (asked of PostgreSQL) or without."""
    key = (CLIENT_KEY, LIMITED["key"])[n % 2]
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": QUESTIONS[n % 2]}],
        "max_tokens": 8,
        "stream": n % 3 == 0,
        "rag": {"enabled": n % 4 != 0},  # with no documents: the fallback answer, also logged
    }
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=DEADLINE_S + 60
    ) as reply:
        text = reply.read().decode()
    if reply.status_code != 200:
        return reply.status_code, None, text
    if body["stream"]:
        first = text.split("\n\n")[0].removeprefix("data: ")
        return 200, json.loads(first)["id"], text
    return 200, json.loads(text)["id"], text


def logged(database_url: str, ids: list[str]) -> set[str]:
    try:
        with psycopg.connect(database_url, connect_timeout=5) as db:
            rows = db.execute("SELECT response_id FROM chat_log WHERE response_id = ANY(%s)", (ids,))
            return {row[0] for row in rows}
    except psycopg.OperationalError:
        return set()


def test_postgres_stopped_mid_load_stalls_no_request_and_loses_no_row(served):
    url, cluster = served
    results: list[tuple[int, str | None, str]] = []
    stop = threading.Event()

    def load() -> None:  # two clients, one request after the other each: the server is never idle
        n = 0
        while not stop.is_set():
            results.append(one_request(url, n))
            n += 1

    def answered_at_least(count: int) -> None:
        while len(results) < count:
            time.sleep(0.1)

    clients = [threading.Thread(target=load) for _ in range(2)]
    for client in clients:
        client.start()
    try:
        answered_at_least(PHASES[0])
        cluster.stop()  # as a crash: every connection drops, new ones are refused
        down_from = len(results)
        answered_at_least(down_from + PHASES[1])
        cluster.start()
        answered_at_least(len(results) + PHASES[2])
    finally:
        stop.set()
        for client in clients:
            client.join()

    problems = [f"{status}: {text[:300]}" for status, _, text in results if status != 200]
    problems += [text[-300:] for status, _, text in results if status == 200 and '"error"' in text]
    assert not problems, problems  # no 5xx, no request_timeout, no error event in a stream
    ids = [response_id for _, response_id, _ in results]
    deadline = time.monotonic() + LOGGED_WITHIN_S
    while set(ids) - logged(cluster.url, ids) and time.monotonic() < deadline:
        time.sleep(1)
    assert set(ids) - logged(cluster.url, ids) == set()  # every answer of the outage logged once it is over
    metrics = httpx.get(f"{url}/metrics", timeout=30).text.splitlines()
    local = next(line for line in metrics if line.startswith("ragtune_rate_limit_local_total "))
    assert (
        float(local.split()[1]) >= 1
    )  # the limited key's requests meanwhile: this process's buckets decided
