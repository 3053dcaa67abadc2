"""Hand-offs delivered to a person: each response that hands the conversation over (`handoff` set) is also
POSTed to `handoff.webhook_url`, signed with `handoff.webhook_secret` (docs/handoff-webhook.md).

Off the request path: `send()` only puts a snapshot on a bounded asyncio queue and returns; a few worker
tasks mask the transcript (as the conversation log does), sign and POST it, and retry connection errors,
timeouts, 429 and 5xx with exponential backoff. A full queue drops the hand-off and counts it; nothing here
can fail or slow a chat. Delivery is at least once: a receiver deduplicates by `response_id`."""

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from feedback.privacy import ephemeral_secret, mask_record, pseudonym_secret
from feedback.records import ChatRecord
from server.metrics import Metrics

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Ragtune-Signature"
TIMESTAMP_HEADER = "X-Ragtune-Timestamp"
TRANSCRIPT_ROLES = ("user", "assistant")  # system prompts and tool output are the integration's, not the talk


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256, keyed with the secret, of "<timestamp>.<raw body>": the timestamp
    is signed too, so a receiver that refuses old timestamps cannot be sent a captured delivery again."""
    signed = timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


@dataclass
class _Handoff:
    """What the chat service knew when it handed over, copied at once (the worker masks it later)."""

    record: ChatRecord
    language: str
    time: str


class HandoffWebhook:
    def __init__(
        self,
        config,
        metrics: Metrics,
        *,
        mask_pii: bool = True,
        pii_keep: tuple[str, ...] = (),
        pseudonym_secret: bytes | None = None,
    ):
        """`config`: core.settings.HandoffSettings with a webhook_url; `pseudonym_secret`: the log's, so that
        a hand-off names the user as the log does (None: one of its own)."""
        self.config, self.metrics = config, metrics
        self.mask_pii, self.pii_keep = mask_pii, tuple(pii_keep)
        self.pseudonym_secret = pseudonym_secret or ephemeral_secret()
        secret = config.webhook_secret
        self.secret = secret.get_secret_value() if secret is not None else None
        self._queue: asyncio.Queue[_Handoff] | None = None
        self._workers: list[asyncio.Task] = []
        self._client: httpx.AsyncClient | None = None
        self._in_flight = 0

    def describe(self) -> str:
        signed = "signed" if self.secret else "UNSIGNED: no webhook_secret"
        return f"hand-off webhook: POST to {httpx.URL(self.config.webhook_url).host} ({signed})"

    async def start(self) -> None:
        queue = self._queue = asyncio.Queue(maxsize=self.config.queue_size)
        self._client = httpx.AsyncClient(timeout=self.config.timeout_s, follow_redirects=False)
        self.metrics.handoff_webhook_queued.set_function(lambda: queue.qsize() + self._in_flight)
        self._workers = [
            asyncio.create_task(self._work(queue), name=f"ragtune-handoff-webhook-{i}")
            for i in range(self.config.concurrency)
        ]

    def send(self, plan, answer: str) -> bool:
        """Queues the hand-off of `plan` (server.service.ChatPlan) whose user was shown `answer`; never
        waits. False, counted as dropped, when the queue is full or the webhook is not running."""
        request, decisions = plan.request, plan.decisions
        record = ChatRecord(
            response_id=plan.id,
            model=request.model,
            messages=[m for m in request.conversation() if m["role"] in TRANSCRIPT_ROLES],
            answer=answer,
            decisions={"handoff": decisions.handoff.model_dump()},
            user_id=request.user,
        )
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        try:
            self._queue.put_nowait(_Handoff(record, decisions.language, stamp))
        except (asyncio.QueueFull, AttributeError):  # AttributeError: not started, or closed
            self.metrics.handoff_webhook.labels("dropped").inc()
            logger.warning("hand-off webhook: queue full, %s dropped (handoff.queue_size)", plan.id)
            return False
        return True

    def payload(self, handoff: _Handoff) -> bytes:
        """The JSON body: personal data masked and the user id pseudonymised as in the conversation log."""
        record = handoff.record
        if self.mask_pii:
            record = mask_record(record, self.pseudonym_secret, self.pii_keep)
        details = record.decisions["handoff"]
        body = {
            "event": "handoff",
            "response_id": record.response_id,
            "time": handoff.time,
            "reason": details["reason"],
            "detail": details["detail"],
            "message": details["message"],
            "language": handoff.language,
            "model": record.model,
            "user_id": record.user_id,
            "transcript": [*record.messages, {"role": "assistant", "content": record.answer}],
        }
        return json.dumps(body, ensure_ascii=False).encode("utf-8")

    def headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "ragtune-handoff/1"}
        if self.secret:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(self.secret, timestamp, body)
        return headers

    async def _work(self, queue: asyncio.Queue) -> None:
        while True:
            handoff = await queue.get()
            self._in_flight += 1
            try:
                await self._deliver(handoff)
            except Exception:  # a bug here must not stop the worker: the next hand-off still goes out
                self.metrics.handoff_webhook.labels("failed").inc()
                logger.exception("hand-off webhook: %s not delivered", handoff.record.response_id)
            finally:
                self._in_flight -= 1
                queue.task_done()

    async def _deliver(self, handoff: _Handoff) -> None:
        body = await asyncio.to_thread(self.payload, handoff)  # masking is CPU work: off the event loop
        config, response_id = self.config, handoff.record.response_id
        problem = ""
        for attempt in range(config.retries + 1):
            if attempt:
                self.metrics.handoff_webhook_retries.inc()
                await asyncio.sleep(min(config.backoff_s * 2 ** (attempt - 1), config.max_backoff_s))
            headers = self.headers(body)  # signed anew each attempt: the timestamp is the attempt's
            try:
                response = await self._client.post(config.webhook_url, content=body, headers=headers)
            except httpx.TransportError as error:  # refused, unreachable, timed out
                problem = f"{type(error).__name__}: {error}"
                continue
            status = response.status_code
            if 200 <= status < 300:
                self.metrics.handoff_webhook.labels("delivered").inc()
                return
            problem = f"the receiver answered HTTP {status}"
            if status != 429 and status < 500:
                break  # the receiver refused this delivery: another try changes nothing
        self.metrics.handoff_webhook.labels("failed").inc()
        logger.warning("hand-off webhook: %s not delivered: %s", response_id, problem)

    async def close(self) -> None:
        """Waits up to handoff.timeout_s for what is queued, then stops; what is left is counted as dropped."""
        if self._queue is None:
            return
        queue, self._queue = self._queue, None  # send() refuses from now on
        try:
            await asyncio.wait_for(queue.join(), self.config.timeout_s)
        except TimeoutError:
            pass
        left = queue.qsize() + self._in_flight
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if left:
            self.metrics.handoff_webhook.labels("dropped").inc(left)
            logger.warning("hand-off webhook: %d hand-off(s) not delivered before the server stopped", left)
        self.metrics.handoff_webhook_queued.set_function(lambda: 0)
        await self._client.aclose()


async def start_webhook(settings, metrics: Metrics) -> HandoffWebhook | None:
    """The running webhook for ragtune's Settings, or None when no handoff.webhook_url is set."""
    if not settings.handoff.webhook_url:
        return None
    webhook = HandoffWebhook(
        settings.handoff,
        metrics,
        mask_pii=settings.pii.mask_in_log,
        pii_keep=tuple(settings.pii.keep),
        pseudonym_secret=pseudonym_secret(settings.pii, settings.home),
    )
    await webhook.start()
    return webhook
