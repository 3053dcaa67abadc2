"""Admission control and scoped keys through a real `ragtune serve` of its own (its limits are not the shared
server's): past server.max_concurrent_requests a request gets 429 with Retry-After at once, a key past its
rate too, a key scoped to some collections and models gets 403 naming the field elsewhere, and a request
past server.request_timeout_s ends with a clear error. Engine: transformers (starts in seconds; admission
sits in front of any engine)."""

import asyncio
import json
import os
import shutil
import sys
import threading
from pathlib import Path

import httpx
import pytest

from core.process import free_port, server_process
from tests.server.conftest import ADMIN_KEY, CLIENT_KEY, DOCS

pytestmark = pytest.mark.slow
LIMIT, STREAMS, TIMEOUT_S = 16, 80, 30
SCOPED = {"key": "widget-key", "name": "widget", "collections": ["faq"], "models": ["SmolLM2-135M-Instruct"]}
LIMITED = {"key": "limited-key", "name": "limited", "rate": {"requests_per_minute": 2}}
THRIFTY = {"key": "thrifty-key", "name": "thrifty", "rate": {"tokens_per_minute": 40}}
MODEL = "SmolLM2-135M-Instruct"
NO_RAG = {"enabled": False}  # generation, not a fallback: requests stay in flight for a while


@pytest.fixture(scope="module")
def server(tmp_path_factory, chat_model_path):
    home = tmp_path_factory.mktemp("admission-home")
    port = free_port()
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "RAGTUNE_CHAT_MODEL": chat_model_path,
        "RAGTUNE_ENGINE__KIND": "transformers",
        "RAGTUNE_SERVER__CLIENT_KEYS": json.dumps([CLIENT_KEY, SCOPED, LIMITED, THRIFTY]),
        "RAGTUNE_SERVER__ADMIN_KEYS": json.dumps([ADMIN_KEY]),
        "RAGTUNE_SERVER__MAX_CONCURRENT_REQUESTS": str(LIMIT),
        "RAGTUNE_SERVER__REQUEST_TIMEOUT_S": str(TIMEOUT_S),
    }
    url = f"http://127.0.0.1:{port}"
    ragtune = shutil.which("ragtune", path=str(Path(sys.executable).parent)) or "ragtune"
    command = [ragtune, "serve", "--port", str(port)]
    with server_process(command, env, home / "server.log", f"{url}/readyz", name="admission"):
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        for collection in ("faq", "internal"):
            for name, text in DOCS.items():
                files = {"file": (f"{collection}-{name}", text.encode())}
                reply = httpx.post(
                    f"{url}/admin/documents",
                    files=files,
                    data={"collection": collection},
                    headers=admin,
                    timeout=300,
                )
                reply.raise_for_status()
        yield url


def post(url: str, key: str, body: dict, timeout: float = 120) -> httpx.Response:
    question = {"role": "user", "content": "How fast does Northwind Gadgets ship an order?"}
    body = {"model": MODEL, "messages": [question], **body}
    return httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=timeout
    )


def metric(url: str, series: str) -> float:
    lines = httpx.get(f"{url}/metrics", timeout=30).text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(series + " "))


def error(reply: httpx.Response) -> dict:
    found = reply.json()["error"]
    assert set(found) == {"message", "type", "param", "code"}
    return found


def test_streams_past_the_limit_get_429_at_once_and_health_answers(server):
    async def one_stream(http: httpx.AsyncClient) -> tuple[int, str, str | None]:
        body = {
            "model": MODEL,
            "stream": True,
            "max_tokens": 16,
            "rag": NO_RAG,
            "messages": [{"role": "user", "content": "Tell me about your gadgets."}],
        }
        async with http.stream("POST", "/v1/chat/completions", json=body) as reply:
            text = (await reply.aread()).decode()
            return reply.status_code, text, reply.headers.get("retry-after")

    async def health(http: httpx.AsyncClient, stop: asyncio.Event) -> list[int]:
        statuses = []
        while not stop.is_set():
            statuses.append((await http.get("/healthz", timeout=1.0)).status_code)  # 1 s, or it fails
            await asyncio.sleep(0.05)
        return statuses

    async def main():
        limits = httpx.Limits(max_connections=STREAMS + 10)
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        async with httpx.AsyncClient(base_url=server, headers=headers, limits=limits, timeout=300) as http:
            stop = asyncio.Event()
            checking = asyncio.create_task(health(http, stop))
            results = await asyncio.gather(*(one_stream(http) for _ in range(STREAMS)))
            stop.set()
            return results, await checking

    refused_before = metric(server, 'ragtune_admission_refused_total{reason="overloaded"}')
    results, health_statuses = asyncio.run(main())
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 429}, statuses  # no 5xx, nothing else
    answered = [text for status, text, _ in results if status == 200]
    refused = [(text, retry) for status, text, retry in results if status == 429]
    assert len(answered) >= LIMIT and refused, (len(answered), len(refused))
    for text in answered:  # each admitted stream finished whole, without an error event
        assert text.rstrip().endswith("data: [DONE]") and '"error"' not in text
    for text, retry in refused:
        body = json.loads(text)["error"]
        assert body["code"] == "model_overloaded" and "server.max_concurrent_requests" in body["message"]
        assert retry is not None and int(retry) >= 1
    assert health_statuses and set(health_statuses) == {200}
    refused_now = metric(server, 'ragtune_admission_refused_total{reason="overloaded"}')
    assert refused_now - refused_before == len(refused)
    assert metric(server, "ragtune_admission_limit") == LIMIT
    assert metric(server, "ragtune_admission_in_flight") == 0  # every slot came back


def test_a_key_scoped_to_one_collection_and_model_gets_403_elsewhere(server):
    other = post(server, SCOPED["key"], {"rag": {"collection": "internal"}, "max_tokens": 4})
    assert other.status_code == 403 and error(other)["param"] == "rag.collection"
    assert "internal" in error(other)["message"] and "widget" in error(other)["message"]
    default = post(server, SCOPED["key"], {"max_tokens": 4})  # the default collection is not in its scope
    assert default.status_code == 403 and error(default)["param"] == "rag.collection"
    model = post(server, SCOPED["key"], {"model": "some-experiment", "rag": {"collection": "faq"}})
    assert model.status_code == 403 and error(model)["param"] == "model"
    own = post(server, SCOPED["key"], {"rag": {"collection": "faq"}, "max_tokens": 4})
    assert own.status_code == 200 and own.json()["citations"][0]["source"].startswith("faq-")
    unscoped = post(server, CLIENT_KEY, {"rag": {"collection": "internal"}, "max_tokens": 4})
    assert unscoped.status_code == 200
    scoped = {"Authorization": f"Bearer {SCOPED['key']}"}
    listed = httpx.get(f"{server}/v1/models", headers=scoped, timeout=30)
    assert [card["id"] for card in listed.json()["data"]] == [MODEL]
    assert metric(server, 'ragtune_scope_refused_total{field="rag.collection"}') >= 2
    assert metric(server, 'ragtune_key_requests_total{key="widget"}') == 1


def test_feedback_only_on_the_keys_own_responses(server):
    own = post(server, SCOPED["key"], {"rag": {"collection": "faq"}, "max_tokens": 4}).json()["id"]
    theirs = post(server, CLIENT_KEY, {"max_tokens": 4}).json()["id"]

    def rate(key: str, response_id: str) -> httpx.Response:
        body = {"response_id": response_id, "rating": "down", "corrected_answer": "Within 2 days."}
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.post(f"{server}/v1/feedback", json=body, headers=headers, timeout=30)

    assert rate(SCOPED["key"], theirs).status_code == 404  # another key's response is unknown to it
    assert rate(SCOPED["key"], own).status_code == 200
    assert rate(CLIENT_KEY, theirs).status_code == 200


def test_a_key_past_its_rate_gets_429_with_retry_after(server):
    for _ in range(LIMITED["rate"]["requests_per_minute"]):
        assert post(server, LIMITED["key"], {"max_tokens": 2, "rag": NO_RAG}).status_code == 200
    refused = post(server, LIMITED["key"], {"max_tokens": 2, "rag": NO_RAG})
    assert refused.status_code == 429 and error(refused)["code"] == "rate_limit_exceeded"
    assert "requests per minute" in error(refused)["message"] and int(refused.headers["retry-after"]) >= 1
    assert post(server, CLIENT_KEY, {"max_tokens": 2, "rag": NO_RAG}).status_code == 200  # others go on
    assert metric(server, 'ragtune_key_requests_total{key="limited"}') == 2
    assert metric(server, 'ragtune_admission_refused_total{reason="rate_requests"}') >= 1

    spent = post(server, THRIFTY["key"], {"max_tokens": 16, "rag": NO_RAG})  # more than 40 tokens in all
    used = spent.json()["usage"]["total_tokens"]
    assert spent.status_code == 200 and used > THRIFTY["rate"]["tokens_per_minute"]
    broke = post(server, THRIFTY["key"], {"max_tokens": 2, "rag": NO_RAG})
    assert broke.status_code == 429 and "tokens per minute" in error(broke)["message"]
    assert metric(server, 'ragtune_key_tokens_total{key="thrifty"}') == used


def test_a_request_past_the_deadline_ends_with_a_clear_error_and_frees_its_slot(server):
    # four answers of 1,900 tokens each, forced (min_tokens): far more than TIMEOUT_S of work on a CPU
    long = {"n": 4, "max_tokens": 1900, "min_tokens": 1900, "rag": NO_RAG, "temperature": 1.0}
    replies: dict[str, object] = {}

    def streamed() -> None:
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        story = [{"role": "user", "content": "Write a story."}]
        body = {"model": MODEL, "messages": story, "stream": True, **long}
        url = f"{server}/v1/chat/completions"
        with httpx.stream("POST", url, json=body, headers=headers, timeout=300) as reply:
            replies["stream"] = (reply.status_code, reply.read().decode())

    thread = threading.Thread(target=streamed)
    thread.start()
    whole = post(server, CLIENT_KEY, long, timeout=300)
    thread.join()
    assert whole.status_code == 503 and error(whole)["code"] == "request_timeout"
    assert "server.request_timeout_s" in error(whole)["message"]
    status, text = replies["stream"]
    assert status == 200 and '"code": "request_timeout"' in text and text.rstrip().endswith("data: [DONE]")
    assert metric(server, "ragtune_request_timeouts_total") >= 2
    assert metric(server, "ragtune_admission_in_flight") == 0
