"""What one client, one editor or one bad file can do to the server: limits, bad values, missing things,
local-only access, adapters that fail to load, clients that leave, uploads beside chats. Most tests run
against the live server; the local-only rule and the error handler run on the app in process (no engine
needed for what they check)."""

import asyncio
import json
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from filelock import FileLock

slow = pytest.mark.slow
HI = [{"role": "user", "content": "Hi"}]


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def chat(server, body: dict, timeout: float = 120, **kwargs) -> httpx.Response:
    body = {"model": server.base_model, "messages": HI, "max_tokens": 2, **body}
    headers = bearer(server.client_key)
    return httpx.post(
        f"{server.url}/v1/chat/completions", json=body, headers=headers, timeout=timeout, **kwargs
    )


def openai_error(reply: httpx.Response) -> dict:
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def in_process(tmp_path: Path, client: str, host: str = "localhost:8000", **server) -> httpx.Response:
    """GET /healthz on the app in this process, as a client at `client` naming `host`."""
    from core.settings import ServerSettings, Settings
    from server.app import create_app

    app = create_app(Settings(home=tmp_path, server=ServerSettings(**server)))
    transport = httpx.ASGITransport(app, client=(client, 50000), raise_app_exceptions=False)

    async def get(path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as http:
            return await http.get(path)

    return asyncio.run(get("/healthz"))


# ------------------------------------------------------------------ who may call (in process)
def test_without_keys_the_server_answers_only_its_own_machine(tmp_path):
    from core.settings import ServerSettings

    assert ServerSettings().host == "127.0.0.1"
    assert in_process(tmp_path, "127.0.0.1").status_code == 200
    assert in_process(tmp_path, "::1", host="[::1]:8000").status_code == 200
    remote = in_process(tmp_path, "10.1.2.3")
    assert remote.status_code == 403 and openai_error(remote)["code"] == "local_only"
    assert "RAGTUNE_SERVER__CLIENT_KEYS" in openai_error(remote)["message"]
    rebound = in_process(tmp_path, "127.0.0.1", host="attacker.example:8000")  # DNS rebinding
    assert rebound.status_code == 403 and "attacker.example" in openai_error(rebound)["message"]
    # with keys, other machines are served (the keys decide who may do what)
    assert in_process(tmp_path, "10.1.2.3", client_keys=["k"]).status_code == 200


def test_the_api_syncs_nothing_without_configured_roots(tmp_path):
    from core.settings import Settings
    from server.app import create_app

    app = create_app(Settings(home=tmp_path))  # knowledge.sync_roots is empty by default
    transport = httpx.ASGITransport(app, client=("127.0.0.1", 50000))

    async def sync() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            return await http.post("/admin/sync", json={"folder": "/"})

    reply = asyncio.run(sync())
    assert reply.status_code == 403
    assert "RAGTUNE_KNOWLEDGE__SYNC_ROOTS" in openai_error(reply)["message"]


def test_an_internal_error_says_nothing_of_its_cause(tmp_path):
    """A request that reaches a route before the engine has started (no lifespan ran here) fails inside."""
    from core.settings import Settings
    from server.app import create_app

    app = create_app(Settings(home=tmp_path))
    transport = httpx.ASGITransport(app, client=("127.0.0.1", 50000), raise_app_exceptions=False)

    async def models() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            return await http.get("/v1/models")

    reply = asyncio.run(models())
    assert reply.status_code == 500
    error = openai_error(reply)
    assert error["type"] == "server_error" and "server log" in error["message"]
    assert "runtime" not in reply.text and "Error" not in error["message"]


# ------------------------------------------------------------------ the knowledge base through the admin API
def names(files: list[str]) -> list[str]:
    """Reports name files relative to the sync root (pytest's base folder here)."""
    return sorted(Path(f).name for f in files)


@slow
def test_admin_sync_reads_only_configured_roots(live_server, tmp_path):
    outside = Path(tempfile.mkdtemp(prefix="ragtune-outside-"))  # /tmp, not under pytest's base folder
    (outside / "secret.md").write_text("# Secret\n\nNot for the knowledge base.")
    (tmp_path / "a.md").write_text("# A\n\nThe Aurora lamp dims in five steps.")
    (tmp_path / "b.md").write_text("# B\n\nThe Borealis kettle boils in ninety seconds.")
    try:
        with live_server.admin() as admin:

            def sync(folder: str, **options) -> httpx.Response:
                return admin.post("/admin/sync", json={"folder": folder, "collection": "roots", **options})

            def stored() -> list[dict]:
                return admin.get("/admin/documents", params={"collection": "roots"}).json()["data"]

            before = admin.get("/admin/documents").json()["data"]
            for folder in (str(outside), "/", "../../..", "/etc"):
                refused = sync(folder)
                assert refused.status_code == 403, folder
                assert "knowledge.sync_roots" in openai_error(refused)["message"]
            assert admin.get("/admin/documents").json()["data"] == before

            dry = sync(str(tmp_path), dry_run=True).json()["report"]
            assert names(dry["added"]) == ["a.md", "b.md"] and dry["dry_run"] and stored() == []
            sync(str(tmp_path)).raise_for_status()
            for name in ("a.md", "b.md"):
                (tmp_path / name).unlink()
            guarded = sync(str(tmp_path))
            assert guarded.status_code == 409 and "allow_mass_removal" in openai_error(guarded)["message"]
            assert len(stored()) == 2
            forced = sync(str(tmp_path), allow_mass_removal=True).json()["report"]
            assert names(forced["removed"]) == ["a.md", "b.md"] and stored() == []
    finally:
        shutil.rmtree(outside)


@slow
def test_a_queue_of_uploads_does_not_starve_chat(live_server):
    """Uploads wait for the writer lock (held here, as another process would); more of them than the default
    thread pool has threads must not stop chat requests from searching meanwhile."""
    uploads = 8  # the default pool has min(32, CPUs + 4) threads: 6 on this kind of machine
    results: list[httpx.Response] = []

    def upload(i: int) -> None:
        body = {
            "title": f"Queued {i}",
            "collection": "queued",
            "text": f"Queued note {i}: the Vega fan has {i} speeds.",
        }
        with live_server.admin() as admin:
            results.append(admin.post("/admin/documents/text", json=body))

    lock = FileLock(live_server.home / "kb" / "write.lock")
    with lock:
        threads = [threading.Thread(target=upload, args=(i,)) for i in range(uploads)]
        for thread in threads:
            thread.start()
        time.sleep(1)  # the uploads reach the server and queue behind the lock
        question = [{"role": "user", "content": "How many days do I have to return a gadget?"}]
        answer = chat(live_server, {"messages": question}, timeout=60)
        assert results == []  # answered while every upload still waits
        assert answer.status_code == 200 and answer.json()["citations"]  # it searched
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * uploads
    with live_server.admin() as admin:
        stored = admin.get("/admin/documents", params={"collection": "queued"}).json()["data"]
    assert len(stored) == uploads  # none lost


@slow
def test_a_writer_lock_held_past_its_timeout_is_503(live_server):
    with FileLock(live_server.home / "kb" / "write.lock"), live_server.admin() as admin:
        reply = admin.post("/admin/documents/text", json={"title": "Late", "text": "Too late."})
    assert reply.status_code == 503
    error = openai_error(reply)
    assert error["type"] == "server_error" and "lock_timeout_s" in error["message"]


# ------------------------------------------------------------------ request size
@slow
def test_too_many_messages_are_refused_and_health_answers_meanwhile(live_server):
    many = [{"role": "user" if i % 2 == 0 else "assistant", "content": "x" * 200} for i in range(5000)]
    reply = chat(live_server, {"messages": many})
    assert reply.status_code == 400
    assert (
        openai_error(reply)["param"] == "messages" and "server.max_messages" in openai_error(reply)["message"]
    )
    long = [{"role": "user", "content": "y" * 30_000}] * 7  # 210,000 characters in 7 messages
    assert openai_error(chat(live_server, {"messages": long}))["param"] == "messages"

    # at the limits (200 messages, 199,000 characters) the prompt is built off the event loop
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i} " + "z" * 990} for i in range(199)
    ]
    done, answers = threading.Event(), []
    worker = threading.Thread(
        target=lambda: (answers.append(chat(live_server, {"messages": turns})), done.set())
    )
    worker.start()
    healthy_meanwhile = 0
    while not done.is_set():
        healthy_meanwhile += httpx.get(f"{live_server.url}/healthz", timeout=30).status_code == 200
        time.sleep(0.02)
    worker.join()
    assert answers[0].status_code == 200
    assert healthy_meanwhile > 0


@slow
def test_bodies_past_the_limit_are_413(live_server):
    big = json.dumps({"model": live_server.base_model, "messages": HI, "user": "u" * (4 * 2**20)}).encode()
    url, headers = f"{live_server.url}/v1/chat/completions", {**bearer(live_server.client_key)}
    by_length = httpx.post(
        url, content=big, headers={**headers, "Content-Type": "application/json"}, timeout=60
    )
    assert by_length.status_code == 413 and openai_error(by_length)["code"] == "request_too_large"

    def chunks():  # no Content-Length: the server counts as it reads
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = httpx.post(
        url, content=chunks(), headers={**headers, "Content-Type": "application/json"}, timeout=60
    )
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413 and "server.max_body_mb" in openai_error(streamed)["message"]

    with live_server.admin() as admin:  # uploads: server.max_upload_mb (1 MB here), counted as they stream
        form = httpx.Request("POST", live_server.url, files={"file": ("big.txt", b"x" * (3 * 2**20))})
        body, content_type = form.read(), form.headers["content-type"]
        upload = admin.post("/admin/documents", content=iter([body]), headers={"Content-Type": content_type})
        assert upload.status_code == 413 and "server.max_upload_mb" in openai_error(upload)["message"]
        text = admin.post("/admin/documents/text", json={"title": "long", "text": "w" * 2_000_001})
        assert text.status_code == 400 and openai_error(text)["param"] == "text"


# ------------------------------------------------------------------ status codes
@slow
@pytest.mark.parametrize(
    "fields, param",
    [
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": ["just a string"]}]}, "messages.0.content"),
        ({"rag": {"filters": {"tags": [{}]}}}, "rag.filters.tags"),
        ({"rag": {"filters": {"tags": {"nested": 1}}}}, "rag.filters.tags"),
        ({"rag": {"filters": ["tags"]}}, "rag.filters"),
        ({"stop": [""]}, "stop"),
        ({"stop": ""}, "stop"),
    ],
)
def test_bad_values_are_400_naming_the_field(live_server, fields, param):
    reply = chat(live_server, fields)
    assert reply.status_code == 400
    assert openai_error(reply)["param"].startswith(param)


@slow
def test_missing_things_are_404(live_server):
    with live_server.admin() as admin:
        for reply in (
            admin.delete("/admin/documents/no-such-document"),
            admin.post("/admin/adapters/no-such-adapter/load"),
            admin.delete("/admin/adapters/no-such-adapter"),
            admin.post("/admin/rollback", json={"version": 999_999}),
        ):
            assert reply.status_code == 404, reply.request.url
            assert openai_error(reply)["type"] == "not_found_error"


@slow
def test_a_nul_byte_in_a_folder_or_document_is_400(live_server):
    """Found by the fuzz: the operating system refuses such a path, which made a 500."""
    with live_server.admin() as admin:
        folder = admin.post("/admin/sync", json={"folder": "notes\x00", "collection": "nul"})
        document = admin.delete("/admin/documents/notes%00.md")
    assert folder.status_code == 400 and openai_error(folder)["param"] == "folder"
    assert document.status_code == 400 and openai_error(document)["param"] == "doc_id"


@slow
def test_a_key_in_any_characters_is_just_a_wrong_key(live_server):
    reply = httpx.get(f"{live_server.url}/v1/models", headers={"Authorization": "Bearer ключ-🔑".encode()})
    assert reply.status_code == 401 and openai_error(reply)["code"] == "invalid_api_key"


@slow
def test_50_random_model_names_do_not_grow_the_error_series(live_server):
    def series() -> set[str]:
        text = httpx.get(f"{live_server.url}/metrics", timeout=30).text
        return {
            line.rsplit(" ", 1)[0] for line in text.splitlines() if line.startswith("ragtune_errors_total{")
        }

    before = series()
    names = [f"model-{secrets.token_hex(6)}" for _ in range(50)]
    for name in names:
        assert chat(live_server, {"model": name}).status_code == 404
    after = series()
    assert len(after - before) <= 1  # at most the one 'unknown' series
    assert not any(name in line for line in after for name in names)


# ------------------------------------------------------------------ adapters
@slow
def test_a_malformed_adapter_is_refused_at_start_and_listed(live_server):
    """conftest puts an adapter with a broken adapter_config.json in the home: the server started anyway."""
    with live_server.admin() as admin:
        refused = {r["name"]: r["reason"] for r in admin.get("/admin/adapters").json()["refused"]}
    assert "adapter_config.json" in refused["malformed"]
    assert "malformed" not in [m.id for m in live_server.client().models.list().data]


def _answer(server, model: str) -> str:
    body = {"model": model, "max_tokens": 8, "temperature": 0, "rag": {"enabled": False}}
    reply = chat(server, {**body, "messages": [{"role": "user", "content": "Say something."}]})
    assert reply.status_code == 200, reply.text
    return reply.json()["choices"][0]["message"]["content"]


@slow
def test_a_failed_reload_keeps_the_loaded_version_serving(live_server):
    folder = live_server.home / "adapters" / "reloadable"
    shutil.copytree(live_server.home / "adapters" / "tiny", folder)
    with live_server.admin() as admin:
        admin.post("/admin/adapters/reloadable/load").raise_for_status()
        served = _answer(live_server, "reloadable")
        (folder / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
        failed = admin.post("/admin/adapters/reloadable/load")
        assert failed.status_code == 400 and "reloadable" in openai_error(failed)["message"]
        assert "reloadable" in [m.id for m in live_server.client().models.list().data]
        assert _answer(live_server, "reloadable") == served
        admin.delete("/admin/adapters/reloadable").raise_for_status()


def _long_story_while(live_server, model: str, meanwhile) -> float:
    """Streams a 200-token answer of `model`, runs `meanwhile` on a thread once it is generating, and checks
    that the answer ends whole; returns when its stream ended (time.monotonic)."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Write a long story."}],
        "max_tokens": 200,
        "min_tokens": 200,
        "stream": True,
        "rag": {"enabled": False},
    }
    thread, events = threading.Thread(target=meanwhile), []
    url, headers = f"{live_server.url}/v1/chat/completions", bearer(live_server.client_key)
    with httpx.stream("POST", url, json=body, headers=headers, timeout=300) as reply:
        for line in (line for line in reply.iter_lines() if line.startswith("data: ")):
            events.append(line[6:])
            if len(events) == 3:  # generating
                thread.start()
    finished = time.monotonic()
    thread.join()
    parsed = [json.loads(e) for e in events if e != "[DONE]"]
    assert not any("error" in chunk for chunk in parsed)
    assert [c["choices"][0]["finish_reason"] for c in parsed if c["choices"]][-1] == "length"
    return finished


@slow
def test_unloading_an_adapter_lets_its_running_request_finish(live_server):
    shutil.copytree(live_server.home / "adapters" / "tiny", live_server.home / "adapters" / "leaving")
    unloaded: list[httpx.Response] = []

    def unload() -> None:
        with live_server.admin() as admin:
            unloaded.append(admin.delete("/admin/adapters/leaving"))

    with live_server.admin() as admin:
        admin.post("/admin/adapters/leaving/load").raise_for_status()
    _long_story_while(live_server, "leaving", unload)
    assert unloaded[0].status_code == 200
    assert chat(live_server, {"model": "leaving"}).status_code == 404


@slow
def test_a_reload_returns_while_the_old_version_still_streams_and_then_serves_the_new_one(
    live_server, adapter_factory
):
    """An adapter reloaded while a long request of its old version streams: the reload does not wait for that
    request (the old version is removed in the background once it ends), the request finishes on the old
    version, and the next request gets the new one."""
    folder = live_server.home / "adapters" / "renewed"
    shutil.copytree(live_server.home / "adapters" / "tiny", folder)
    with live_server.admin() as admin:
        admin.post("/admin/adapters/renewed/load").raise_for_status()
    old = _answer(live_server, "renewed")
    reloaded: list[tuple[float, int]] = []

    def reload() -> None:
        shutil.rmtree(folder)
        adapter_factory(live_server.model_path, folder, "renewed", seed=1)
        with live_server.admin() as admin:
            reply = admin.post("/admin/adapters/renewed/load")
        reloaded.append((time.monotonic(), reply.status_code))

    finished = _long_story_while(live_server, "renewed", reload)
    assert reloaded[0][1] == 200 and reloaded[0][0] < finished  # it did not wait for the old version's request
    assert _answer(live_server, "renewed") != old
    with live_server.admin() as admin:
        admin.delete("/admin/adapters/renewed").raise_for_status()
    assert "could not be removed" not in live_server.log.read_text()


# ------------------------------------------------------------------ a client that leaves
@slow
def test_a_non_streaming_request_whose_client_left_stops_generating(live_server):
    left = live_server.metric("ragtune_disconnected_requests_total")
    body = {
        "model": "tiny",
        "messages": [{"role": "user", "content": "Write a very long story."}],
        "max_tokens": 1800,
        "min_tokens": 1800,
        "rag": {"enabled": False},
    }
    with pytest.raises(httpx.ReadTimeout):
        chat(live_server, body, timeout=httpx.Timeout(60, read=4))
    for _ in range(60):  # seen within DISCONNECT_POLL_S; 1,800 tokens would take far longer
        if live_server.metric("ragtune_engine_running_requests") == 0:
            break
        time.sleep(0.5)
    assert live_server.metric("ragtune_engine_running_requests") == 0
    assert live_server.metric("ragtune_disconnected_requests_total") == left + 1


# ------------------------------------------------------------------ audit
@slow
def test_admin_changes_leave_an_audit_trail_that_names_no_key(live_server):
    from server.auth import key_id

    with live_server.admin() as admin:
        added = admin.post(
            "/admin/documents/text", json={"title": "Audited", "collection": "audit", "text": "Hi."}
        )
        admin.delete(f"/admin/documents/{added.json()['document_id']}").raise_for_status()
        assert admin.delete("/admin/documents/never-there").status_code == 404
    as_client = httpx.delete(f"{live_server.url}/admin/adapters/tiny", headers=bearer(live_server.client_key))
    assert as_client.status_code == 403
    text = (live_server.home / "audit.log").read_text(encoding="utf-8")
    assert live_server.admin_key not in text and live_server.client_key not in text
    entries = [json.loads(line) for line in text.splitlines()]
    mine = [(e["method"], e["route"], e["target"], e["status"], e["key_id"]) for e in entries]
    admin_id, client_id = key_id(live_server.admin_key), key_id(live_server.client_key)
    assert (
        "POST",
        "/admin/documents/text",
        {"title": "Audited", "collection": "audit"},
        200,
        admin_id,
    ) in mine
    deleted = {"doc_id": added.json()["document_id"]}
    assert ("DELETE", "/admin/documents/{doc_id}", deleted, 200, admin_id) in mine
    assert ("DELETE", "/admin/documents/{doc_id}", {"doc_id": "never-there"}, 404, admin_id) in mine
    assert ("DELETE", "/admin/adapters/{name}", {"name": "tiny"}, 403, client_id) in mine
    assert "tiny" in [m.id for m in live_server.client().models.list().data]


# ------------------------------------------------------------------ load and faults (benchmarks/load_fault.py, bounded)
@slow
def test_chats_during_an_editors_changes_all_finish_and_no_document_is_lost(live_server, tmp_path):
    from benchmarks.load_fault import run

    shutil.copytree(live_server.home / "adapters" / "tiny", live_server.home / "adapters" / "flapping")
    figures = asyncio.run(
        run(
            live_server.url,
            live_server.client_key,
            live_server.admin_key,
            chats_at_once=8,
            models=[live_server.base_model, "tiny"],
            flapping="flapping",
            folder=tmp_path / "notes",
        )
    )
    edits = figures["edits"]
    assert figures["alone"]["failed"] == [] and figures["with_editor"]["failed"] == []
    assert edits.failures == [] and figures["lost"] == []
    assert edits.uploaded and edits.synced and edits.adapter_cycles > 0
