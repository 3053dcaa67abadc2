"""Two `ragtune serve` replicas behind one load balancer share RAGTUNE_HOME and one PostgreSQL feedback
database: knowledge-base edits through both wait for one PostgreSQL advisory lock and none is lost, each
replica answers from the documents the other added, and an adapter loaded through one serves on both (and an
unload through either stops it on both); an adapter folder copied in by hand serves when a request names it,
and a reload that fails on one replica
leaves the version before serving there until it loads. Engine: transformers (starts in seconds; the sharing sits beside any
engine)."""

import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg
import pytest

from core.process import free_port, server_process
from knowledge.locking import advisory_key
from server.shared_adapters import SharedAdapters
from tests.postgres import postgres_cluster
from tests.server.conftest import ADMIN_KEY, CLIENT_KEY, make_adapter

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
MODEL = "SmolLM2-135M-Instruct"
DOCS = {  # title -> text: two uploaded through each replica, in English and Chinese
    "Returns": "Northwind Gadgets returns: any gadget can be returned within 45 days for a full refund.",
    "Shipping": "Northwind Gadgets ships every order within 2 working days; express costs 9 euros.",
    "保修": "Northwind Gadgets 的每件产品都有两年保修，涵盖制造缺陷。",
    "发票": "Northwind Gadgets 的电子发票在付款后一小时内发送到您的邮箱。",
}
WAIT_S = 120  # how long the test waits for something that should happen: a hung server fails, not hangs


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, chat_model_path):
    """Both started at once, as an orchestrator would start them."""
    home = tmp_path_factory.mktemp("replicas-home")
    (home / "adapters").mkdir()
    ragtune = shutil.which("ragtune", path=str(Path(sys.executable).parent)) or "ragtune"
    with postgres_cluster() as cluster, ExitStack() as stack:
        urls, servers = [], []
        for name in ("a", "b"):
            port = free_port()
            env = {
                **os.environ,
                "RAGTUNE_HOME": str(home),
                "RAGTUNE_CHAT_MODEL": chat_model_path,
                "RAGTUNE_ENGINE__KIND": "transformers",
                "RAGTUNE_FEEDBACK__DATABASE_URL": cluster.url,
                "RAGTUNE_SERVER__CLIENT_KEYS": json.dumps([CLIENT_KEY]),
                "RAGTUNE_SERVER__ADMIN_KEYS": json.dumps([ADMIN_KEY]),
                "RAGTUNE_KNOWLEDGE__LOCK_TIMEOUT_S": str(WAIT_S),
            }
            urls.append(f"http://127.0.0.1:{port}")
            command = [ragtune, "serve", "--port", str(port)]
            servers.append(
                server_process(command, env, home / f"{name}.log", f"{urls[-1]}/readyz", name=name)
            )
        with ThreadPoolExecutor(len(servers)) as pool:
            started = [pool.submit(server.__enter__) for server in servers]
        for server, start in zip(servers, started):
            if start.exception() is None:
                stack.push(server)  # stopped on leaving, also when the other did not start
        for start in started:
            start.result()
        yield home, cluster.url, urls


def admin(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=WAIT_S)


def chat(url: str, model: str, question: str, rag: bool = True) -> httpx.Response:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 12,
        "temperature": 0,
        "rag": {"enabled": rag},
    }
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=WAIT_S)


def waiting_for(database_url: str, key: int) -> int:
    """Sessions waiting for the advisory lock `key` (PostgreSQL shows a bigint key as two 32-bit halves)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    with psycopg.connect(database_url) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            (unsigned >> 32, unsigned & 0xFFFFFFFF),
        ).fetchone()
    return row[0]


def test_edits_through_both_replicas_wait_for_one_postgres_lock_and_none_is_lost(replicas):
    home, database_url, (a, b) = replicas
    key = advisory_key(home / "kb" / "write.lock")
    results: list[httpx.Response] = []

    def upload(url: str, title: str) -> None:
        with admin(url) as client:
            results.append(client.post("/admin/documents/text", json={"title": title, "text": DOCS[title]}))

    writer = psycopg.connect(database_url, autocommit=True)  # another writer, in the middle of a change
    writer.execute("SELECT pg_advisory_lock(%s)", (key,))
    uploads = [threading.Thread(target=upload, args=(url, t)) for url, t in zip([a, a, b, b], DOCS)]
    try:
        for thread in uploads:
            thread.start()
        deadline = time.monotonic() + WAIT_S  # each replica changes the knowledge base on one thread
        while waiting_for(database_url, key) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert waiting_for(database_url, key) == 2 and results == []  # both replicas wait for the lock
    finally:
        writer.close()
    for thread in uploads:
        thread.join()
    assert [r.status_code for r in results] == [200] * len(DOCS), [r.text for r in results]
    for url in (a, b):
        with admin(url) as client:
            documents = client.get("/admin/documents").json()["data"]
            versions = client.get("/admin/versions").json()
        assert sorted(d["title"] for d in documents) == sorted(DOCS)
        # one version per change, each built on the one before: the last holds all four documents
        assert [v["documents"] for v in versions["data"]] == [1, 2, 3, 4] and versions["live"] == 4
    for url, question, source in [
        (b, "How many days do I have to return a gadget?", "Returns.txt"),
        (a, "Northwind Gadgets 的保修多久？", "保修.txt"),
    ]:  # added through the other replica
        answer = chat(url, MODEL, question)
        assert answer.status_code == 200, answer.text
        assert source in [c["source"] for c in answer.json()["citations"]]


def test_an_adapter_loaded_through_one_replica_serves_on_both(replicas, chat_model_path):
    home, _, (a, b) = replicas
    make_adapter(chat_model_path, home / "adapters" / "shared-tiny", "shared-tiny", seed=3)
    question = "Say hello to our new customer."
    with admin(a) as client:
        client.post("/admin/adapters/shared-tiny/load").raise_for_status()
    variants = [{"name": "base", "adapter": None}, {"name": "tuned", "adapter": "shared-tiny"}]
    with admin(b) as client:  # B's first request since the load: an experiment may name the adapter
        started = client.post(
            "/admin/experiments", json={"name": "shared", "model": "a-b", "variants": variants}
        )
        assert started.status_code == 201, started.text
        client.delete("/admin/experiments/shared").raise_for_status()
    with httpx.Client(headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as client:
        listed = client.get(f"{b}/v1/models").json()["data"]
    assert "shared-tiny" in [card["id"] for card in listed]
    answers = {url: chat(url, "shared-tiny", question, rag=False) for url in (a, b)}
    assert all(reply.status_code == 200 for reply in answers.values())
    tuned = [reply.json()["choices"][0]["message"]["content"] for reply in answers.values()]
    base = chat(b, MODEL, question, rag=False).json()["choices"][0]["message"]["content"]
    assert tuned[0] == tuned[1] != base  # the same adapter, greedy: the same answer on both

    with admin(b) as client:
        client.delete("/admin/adapters/shared-tiny").raise_for_status()
    gone = chat(a, "shared-tiny", "你好", rag=False)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"


def models(url: str) -> list[str]:
    listed = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {CLIENT_KEY}"}, timeout=WAIT_S)
    return [card["id"] for card in listed.json()["data"]]


def test_an_adapter_folder_copied_in_by_hand_serves_once_a_request_names_it(replicas, chat_model_path):
    home, _, (a, b) = replicas
    folder = make_adapter(chat_model_path, home / "adapters" / "copied-tiny", "copied-tiny", seed=4)
    answer = chat(b, "copied-tiny", "欢迎新客户。", rag=False)  # no admin load, no restart
    assert answer.status_code == 200, answer.text
    assert "copied-tiny" in models(a)  # loaded on every replica, as an admin load would
    half = home / "adapters" / "half-copied"  # its ragtune_adapter.json was left behind
    half.mkdir()
    shutil.copy(folder / "adapter_config.json", half)
    refused = chat(a, "half-copied", "Welcome our new customer.", rag=False)
    message = refused.json()["error"]["message"]
    assert refused.status_code == 400 and str(half) in message and "ragtune_adapter.json" in message
    assert "half-copied" not in models(a)
    with admin(a) as client:  # admins see why, and the folder is tried again only once it changes
        listed = client.get("/admin/adapters").json()["refused"]
    assert [entry["name"] for entry in listed] == ["half-copied"]
    assert chat(a, "half-copied", "Welcome our new customer.", rag=False).json() == refused.json()
    for copied in folder.iterdir():
        shutil.copy(copied, half)  # the copy finished: the next request serves it
    assert chat(a, "half-copied", "Welcome our new customer.", rag=False).status_code == 200
    outside = chat(a, "../adapters/copied-tiny", "Hello", rag=False)  # not an adapter's name: no path
    assert outside.status_code == 404 and outside.json()["error"]["code"] == "model_not_found"


def test_a_reload_that_fails_on_a_replica_keeps_the_version_before_serving_and_is_tried_again(
    replicas, chat_model_path
):
    home, database_url, (a, b) = replicas
    folder = make_adapter(chat_model_path, home / "adapters" / "reload-tiny", "reload-tiny", seed=6)
    with admin(a) as client:
        client.post("/admin/adapters/reload-tiny/load").raise_for_status()
    question = "Greet the customer, please."
    before = chat(b, "reload-tiny", question, rag=False).json()["choices"][0]["message"]["content"]
    meta = folder / "ragtune_adapter.json"
    good = meta.read_text(encoding="utf-8")
    meta.write_text(good.replace(json.loads(good)["base_fingerprint"], "another-base"), encoding="utf-8")
    shared = SharedAdapters(home / "adapters", WAIT_S, database_url)
    shared.record("reload-tiny", True)  # another replica's reload, which fails on these two
    still = chat(b, "reload-tiny", question, rag=False)
    assert still.status_code == 200 and still.json()["choices"][0]["message"]["content"] == before
    with admin(b) as client:
        status = client.get("/admin/adapters").json()
    assert "reload-tiny" in [info["name"] for info in status["data"]]
    assert "reload-tiny" not in [r["name"] for r in status["refused"]]
    [failed] = [r for r in status["reload_failed"] if r["name"] == "reload-tiny"]
    assert "another-base" in failed["reason"]

    make_adapter(chat_model_path, folder, "reload-tiny", seed=7)  # the new version, whole now
    shared.record("not-an-adapter", False)  # any later change: B follows and tries the reload again
    after = chat(b, "reload-tiny", question, rag=False).json()["choices"][0]["message"]["content"]
    with admin(b) as client:
        assert client.get("/admin/adapters").json()["reload_failed"] == []
    assert (
        after != before
        and after == chat(a, "reload-tiny", question, rag=False).json()["choices"][0]["message"]["content"]
    )
