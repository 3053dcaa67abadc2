"""The hand-off webhook against a local receiver: each hand-off arrives masked and signed (checked with the
recipe of docs/handoff-webhook.md, run as written), after the chat has answered; errors and 5xx are retried,
a receiver that is down for a while loses nothing, a refusal is not retried, a full queue drops and counts."""

import asyncio
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from core.process import free_port
from core.settings import EngineSettings, HandoffSettings, Settings
from feedback.privacy import pseudonym, pseudonym_secret
from server.handoff_webhook import HandoffWebhook
from server.metrics import Metrics
from server.protocol import ChatCompletionRequest, Handoff
from server.trust import Decisions

DOC = Path(__file__).resolve().parents[2] / "docs" / "handoff-webhook.md"
SECRET = "a-secret-both-sides-know"
TOLD = "I'll pass this conversation to a member of our team."


def documented_verify():
    """`verify` from docs/handoff-webhook.md, executed as a reader would copy it."""
    text = DOC.read_text(encoding="utf-8")
    code = re.search(r"```python\n(import hashlib\n.*?)```", text, re.DOTALL).group(1)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 (our own documentation: the test keeps its recipe true)
    return namespace["verify"]


class Receiver:
    """A help desk's endpoint: answers with `statuses` in turn, then 200, and records every call. While
    `release` is clear it holds its answers (a slow receiver)."""

    def __init__(self, statuses=(), port: int | None = None):
        self.statuses, self.port = list(statuses), port or free_port()
        self.calls: list[tuple[dict, bytes]] = []  # (headers, lower-case names; raw body)
        self.release = threading.Event()
        self.release.set()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.release.wait(60)
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def payloads(self) -> list[dict]:
        import json

        return [json.loads(body) for _, body in self.calls]

    def signed_right(self, headers: dict, body: bytes) -> bool:
        verify = documented_verify()
        return verify(SECRET, headers["x-ragtune-timestamp"], headers["x-ragtune-signature"], body)


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(statuses=(), port=None, start=True) -> Receiver:
        made.append(Receiver(statuses, port))
        return made[-1].start() if start else made[-1]

    yield make
    for one in made:
        one.stop()


PSEUDONYM_SECRET = b"the log's secret"


def config(url: str, **changes) -> HandoffSettings:
    fast = {"backoff_s": 0.05, "max_backoff_s": 0.5, "timeout_s": 5.0}  # retries within a test's patience
    return HandoffSettings(webhook_url=url, webhook_secret=SECRET, **{**fast, **changes})


def plan(question: str, n: int = 0, language: str = "en", user: str | None = "customer-42"):
    """What the chat service hands the webhook: a response id, the request, the rails' decisions."""
    request = ChatCompletionRequest(
        model="demo",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}],
        user=user,
    )
    handoff = Handoff(reason="user_asked", detail="asked for a human", message=TOLD)
    decisions = Decisions(language=language, handoff=handoff)
    return SimpleNamespace(id=f"chatcmpl-test{n}", request=request, decisions=decisions)


def count(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def until(condition, limit_s: float = 60.0) -> None:
    """Waits for `condition()`; the limit only stops a broken run from hanging."""
    for _ in range(int(limit_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


def delivered(metrics: Metrics) -> float:
    return count(metrics, "ragtune_handoff_webhook_total", result="delivered")


def run_webhook(settings: HandoffSettings, plans: list, wait_for: int, before_close=None) -> Metrics:
    """Sends `plans` through a running webhook, waits until `wait_for` were delivered, stops it."""
    metrics = Metrics()

    async def main():
        webhook = HandoffWebhook(settings, metrics, pseudonym_secret=PSEUDONYM_SECRET)
        await webhook.start()
        for one in plans:
            assert webhook.send(one, TOLD)
        if before_close:
            await before_close()
        await until(lambda: delivered(metrics) >= wait_for)
        await webhook.close()

    asyncio.run(main())
    return metrics


# ------------------------------------------------------------------ the payload, without a model
def test_the_payload_is_masked_like_the_log_and_signed(receiver):
    hook = receiver()
    english = plan("I want to talk to a human, mail me at jane.doe@example.com or call +44 20 7946 0958")
    chinese = plan("转人工，我的手机是13812345678", n=1, language="zh", user=None)
    run_webhook(config(hook.url), [english, chinese], wait_for=2)

    assert len(hook.calls) == 2
    for headers, body in hook.calls:
        assert headers["content-type"].startswith("application/json") and hook.signed_right(headers, body)
    first, second = sorted(hook.payloads(), key=lambda p: p["response_id"])
    assert first["event"] == "handoff" and first["response_id"] == "chatcmpl-test0"
    assert (first["reason"], first["detail"], first["message"]) == ("user_asked", "asked for a human", TOLD)
    assert first["language"] == "en" and first["model"] == "demo"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["time"])
    assert first["user_id"] == pseudonym("customer-42", PSEUDONYM_SECRET)  # what the log stores for this user
    assert first["transcript"] == [  # the system prompt left out, the answer shown last
        {"role": "user", "content": "I want to talk to a human, mail me at [EMAIL] or call [PHONE]"},
        {"role": "assistant", "content": TOLD},
    ]
    assert second["language"] == "zh" and second["user_id"] is None
    assert second["transcript"][0]["content"] == "转人工，我的手机是[PHONE]"
    assert "转人工".encode() in hook.calls[0][1] + hook.calls[1][1]  # UTF-8 text, not \u escapes


def test_a_wrong_secret_or_an_old_timestamp_fails_the_documented_check(receiver):
    hook = receiver()
    run_webhook(config(hook.url), [plan("talk to a human")], wait_for=1)
    (headers, body), verify = hook.calls[0], documented_verify()
    assert verify(SECRET, headers["x-ragtune-timestamp"], headers["x-ragtune-signature"], body)
    assert not verify("another secret", headers["x-ragtune-timestamp"], headers["x-ragtune-signature"], body)
    assert not verify(SECRET, headers["x-ragtune-timestamp"], headers["x-ragtune-signature"], body + b" ")
    old = str(int(headers["x-ragtune-timestamp"]) - 3600)  # a replay an hour later, even re-signed
    from server.handoff_webhook import signature

    assert not verify(SECRET, old, signature(SECRET, old, body), body)


# ------------------------------------------------------------------ delivery
def test_a_first_500_is_retried_and_the_same_hand_off_arrives(receiver):
    hook = receiver(statuses=[500])
    metrics = run_webhook(config(hook.url), [plan("talk to a human")], wait_for=1)
    assert len(hook.calls) == 2 and hook.calls[0][1] == hook.calls[1][1]  # the same body, signed again
    assert all(hook.signed_right(headers, body) for headers, body in hook.calls)
    assert count(metrics, "ragtune_handoff_webhook_retries_total") == 1
    assert count(metrics, "ragtune_handoff_webhook_total", result="failed") == 0


def test_a_receiver_down_for_a_while_loses_nothing(receiver):
    hook = receiver(start=False)  # its port refuses connections until it starts
    plans = [plan(f"talk to a human about order {i}", n=i) for i in range(6)]

    async def comes_back():
        await asyncio.sleep(1.0)  # a few attempts fail meanwhile (the retry budget here is about 4 s)
        hook.start()

    metrics = run_webhook(config(hook.url, retries=12), plans, wait_for=6, before_close=comes_back)
    assert sorted(p["response_id"] for p in hook.payloads()) == sorted(p.id for p in plans)
    assert count(metrics, "ragtune_handoff_webhook_retries_total") >= 6  # each one failed at least once
    assert count(metrics, "ragtune_handoff_webhook_total", result="failed") == 0


def test_a_refusal_is_not_retried_and_counts_as_failed(receiver):
    hook = receiver(statuses=[401])
    metrics = Metrics()

    async def main():
        webhook = HandoffWebhook(config(hook.url), metrics)
        await webhook.start()
        webhook.send(plan("talk to a human"), TOLD)
        await until(lambda: count(metrics, "ragtune_handoff_webhook_total", result="failed") == 1)
        await webhook.close()

    asyncio.run(main())
    assert len(hook.calls) == 1 and count(metrics, "ragtune_handoff_webhook_retries_total") == 0


def test_a_full_queue_drops_and_counts_without_waiting(receiver):
    hook = receiver()
    hook.release.clear()  # the receiver is slow: the first hand-off stays in delivery
    metrics = Metrics()

    async def main():
        webhook = HandoffWebhook(config(hook.url, queue_size=1, concurrency=1), metrics)
        await webhook.start()
        assert webhook.send(plan("talk to a human", n=0), TOLD)
        await until(lambda: len(hook.calls) == 1)  # taken by the worker: the queue is free again
        sent = [webhook.send(plan("talk to a human", n=i), TOLD) for i in (1, 2, 3)]
        assert sent == [True, False, False]
        assert count(metrics, "ragtune_handoff_webhook_total", result="dropped") == 2
        assert count(metrics, "ragtune_handoff_webhook_queued") == 2  # one in delivery, one waiting
        hook.release.set()
        await until(lambda: delivered(metrics) == 2)
        await webhook.close()

    asyncio.run(main())
    assert sorted(p["response_id"] for p in hook.payloads()) == ["chatcmpl-test0", "chatcmpl-test1"]


def test_settings_come_from_the_environment_and_a_bad_url_names_the_setting(monkeypatch):
    from pydantic import ValidationError

    monkeypatch.setenv("RAGTUNE_HANDOFF__WEBHOOK_URL", "https://desk.example.com/in")
    monkeypatch.setenv("RAGTUNE_HANDOFF__WEBHOOK_SECRET", SECRET)
    settings = Settings()
    assert settings.handoff.webhook_url == "https://desk.example.com/in"
    assert settings.handoff.webhook_secret.get_secret_value() == SECRET and SECRET not in repr(settings)
    monkeypatch.setenv("RAGTUNE_HANDOFF__WEBHOOK_URL", "desk.example.com/in")
    with pytest.raises(ValidationError, match="handoff.webhook_url"):
        Settings()


# ------------------------------------------------------------------ through the app
@pytest.mark.slow
def test_the_app_posts_a_hand_off_after_the_chat_has_answered(receiver, tmp_path, chat_model_path):
    """A chat that hands over answers while the receiver still holds the delivery: the chat never waits."""
    from server.app import create_app

    hook = receiver()
    hook.release.clear()
    settings = Settings(
        home=tmp_path,
        chat_model=chat_model_path,
        engine=EngineSettings(kind="transformers"),
        handoff=config(hook.url),
    )
    app = create_app(settings, announce=lambda *_: None)

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app, client=("127.0.0.1", 50000))
            http = httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=120)
            async with http:

                async def metric(name: str, **labels) -> float:
                    """A series as GET /metrics shows it (0 until it first counts)."""
                    series = name + "".join(f'{{{k}="{v}"}}' for k, v in labels.items())
                    lines = (await http.get("/metrics")).text.splitlines()
                    return sum(float(line.split(" ")[-1]) for line in lines if line.startswith(series + " "))

                replies = []
                for question in ("I want to talk to a human, my e-mail is jane.doe@example.com", "转人工"):
                    reply = await http.post(
                        "/v1/chat/completions",
                        json={
                            "model": "SmolLM2-135M-Instruct",
                            "user": "customer-7",
                            "messages": [{"role": "user", "content": question}],
                        },
                    )
                    assert reply.status_code == 200 and reply.json()["handoff"]["reason"] == "user_asked"
                    replies.append(reply.json())
                # both chats answered while the receiver had answered nothing
                assert await metric("ragtune_handoff_webhook_total", result="delivered") == 0
                assert await metric("ragtune_handoff_webhook_queued") == 2
                hook.release.set()
                for _ in range(3000):
                    if await metric("ragtune_handoff_webhook_total", result="delivered") == 2:
                        break
                    await asyncio.sleep(0.02)
                assert await metric("ragtune_handoff_webhook_total", result="delivered") == 2
        return replies

    replies = asyncio.run(main())
    assert all(hook.signed_right(headers, body) for headers, body in hook.calls)
    by_id = {p["response_id"]: p for p in hook.payloads()}
    assert set(by_id) == {r["id"] for r in replies}
    english, chinese = (by_id[r["id"]] for r in replies)
    assert english["language"] == "en" and chinese["language"] == "zh"
    # the pseudonym the conversation log gives this user: the same secret, from the server's home
    assert english["user_id"] == pseudonym("customer-7", pseudonym_secret(settings.pii, tmp_path))
    assert english["message"] == replies[0]["handoff"]["message"] == english["transcript"][-1]["content"]
    assert english["transcript"][0]["content"] == "I want to talk to a human, my e-mail is [EMAIL]"
    assert chinese["transcript"] == [
        {"role": "user", "content": "转人工"},
        {"role": "assistant", "content": replies[1]["choices"][0]["message"]["content"]},
    ]
