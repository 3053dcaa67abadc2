"""What a web page, a log reader or a dead engine must not get past, on the app in this process (no model
needed for what these check): the Origin rule of keyless local mode, /readyz following the engine, the
audit trail's file mode, the client keys' settings."""

import asyncio
from types import SimpleNamespace

import httpx
import pytest


def call(
    app, method: str, path: str, headers: dict | None = None, client: str = "127.0.0.1"
) -> httpx.Response:
    transport = httpx.ASGITransport(app, client=(client, 50000), raise_app_exceptions=False)

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8000") as http:
            return await http.request(method, path, headers=headers or {})

    return asyncio.run(send())


def app_with(tmp_path, **server):
    from core.settings import ServerSettings, Settings
    from server.app import create_app

    return create_app(Settings(home=tmp_path, server=ServerSettings(**server)))


def test_without_keys_a_page_of_another_site_cannot_post_to_the_local_server(tmp_path):
    app = app_with(tmp_path)
    for origin in (
        "http://evil.example",
        "https://localhost.evil.example",
        "null",
        "http://127.0.0.1.nip.io",
    ):
        refused = call(app, "POST", "/admin/sync", {"Origin": origin})
        assert refused.status_code == 403, origin
        assert (
            refused.json()["error"]["code"] == "local_only" and "Origin" in refused.json()["error"]["message"]
        )
    # the compare page (served by this server) and tools that send no Origin go on
    for headers in ({"Origin": "http://localhost:8000"}, {"Origin": "http://127.0.0.1:8000"}, {}):
        assert call(app, "GET", "/healthz", headers).status_code == 200
    # with keys, the keys decide: an Origin alone refuses nothing
    keyed = app_with(tmp_path, client_keys=["k"])
    assert call(keyed, "GET", "/healthz", {"Origin": "http://evil.example"}).status_code == 200


def test_readyz_is_false_when_the_engine_has_died(tmp_path):
    app = app_with(tmp_path)
    assert call(app, "GET", "/readyz").status_code == 503  # not started
    alive = {"now": True}
    engine = SimpleNamespace(alive=lambda: alive["now"])
    app.state.runtime = SimpleNamespace(engine=engine, kb=SimpleNamespace(version=3))
    assert call(app, "GET", "/readyz").json() == {
        "ready": True,
        "engine": True,
        "knowledge_base": True,
        "knowledge_base_version": 3,
    }
    alive["now"] = False  # vLLM's engine core process died
    dead = call(app, "GET", "/readyz")
    assert dead.status_code == 503 and dead.json()["engine"] is False and dead.json()["ready"] is False


def test_the_audit_trail_is_readable_by_its_owner_only(tmp_path):
    from server.app import _audit_file
    from server.auth import audit_log

    old = tmp_path / "audit.log"
    old.write_text("")
    old.chmod(0o644)  # made by an earlier version
    handler = _audit_file(tmp_path)
    audit_log.removeHandler(handler)
    handler.close()
    assert old.stat().st_mode & 0o777 == 0o600


def test_client_keys_as_strings_or_scoped_objects():
    from pydantic import ValidationError

    from core.settings import ServerSettings

    keys = ServerSettings(
        client_keys=[
            "plain",
            {"key": "w", "name": "widget", "collections": ["faq"], "rate": {"requests_per_minute": 5}},
        ]
    ).client_keys
    assert [(k.key, k.name) for k in keys] == [("plain", "client-1"), ("w", "widget")]
    assert (
        keys[0].collections == [] and keys[1].collections == ["faq"] and keys[1].rate.requests_per_minute == 5
    )
    with pytest.raises(ValidationError, match="unique"):
        ServerSettings(client_keys=["a", {"key": "b", "name": "client-1"}])
    with pytest.raises(ValidationError, match="requests_per_minute"):
        ServerSettings(client_keys=[{"key": "b", "rate": {"requests_per_minute": 0}}])
    with pytest.raises(ValidationError, match="name"):
        ServerSettings(client_keys=[{"key": "b", "name": "bad name with spaces"}])


def test_the_default_concurrency_follows_the_cores():
    from server.admission import default_concurrency

    assert default_concurrency(1) == 16 and default_concurrency(2) == 32 and default_concurrency(64) == 256


def test_word_list_puts_at_once_each_write_a_file_of_their_own(tmp_path):
    import threading

    from server.routes.rails_admin import _write_atomic

    path = tmp_path / "banned.txt"
    lists = [f"word{n}\n".encode() * 2000 for n in range(16)]
    start, errors = threading.Barrier(len(lists)), []

    def put(data: bytes) -> None:
        start.wait()
        try:
            _write_atomic(path, data)
        except OSError as err:  # one temp file shared by all: a replace finds it gone
            errors.append(err)

    threads = [threading.Thread(target=put, args=(data,)) for data in lists]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert path.read_bytes() in lists  # one whole list, never two mixed
    assert [p.name for p in tmp_path.iterdir()] == ["banned.txt"]  # no temp file left behind
