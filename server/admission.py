"""Admission control for chat requests: how many run at once (server.max_concurrent_requests; past it a 429
"the model is overloaded" with Retry-After at once, as TGI answers, rather than a queue that makes everyone
wait), how long one may take (server.request_timeout_s), and each client key's requests and tokens per minute
(token buckets). The buckets live in this process: replicas behind one load balancer each apply the limits
(docs/security.md says how to size them)."""

import asyncio
import math
import os
import time
from dataclasses import dataclass, field

from core.settings import ClientKey, RateSettings, ServerSettings
from server.errors import ApiError

OVERLOAD_RETRY_S = 1  # an overloaded server frees slots as answers end: clients may try again soon
LEAK_GRACE_S = 30.0  # a slot whose request outlived its deadline by this much is taken back (see _expire)


def default_concurrency(cpus: int | None = None) -> int:
    """server.max_concurrent_requests when unset: 16 per CPU core, between 16 and 256. The engine batches
    what is admitted; more than this on a CPU only lengthens every answer, and a GPU server sets its own."""
    return max(16, min(256, 16 * (cpus or os.cpu_count() or 1)))


class Bucket:
    """A token bucket holding at most one minute's allowance, refilled evenly over the minute."""

    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.level = float(per_minute)
        self.per_second = per_minute / 60.0
        self.updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.per_second)
        self.updated = now

    def wait_s(self, needed: float) -> float:
        """Seconds until the bucket holds `needed` (0: it does now)."""
        self._refill()
        return max(0.0, (needed - self.level) / self.per_second)

    def take(self, amount: float) -> None:
        """Spends `amount`; the level may go below zero (tokens are known only once an answer ends)."""
        self._refill()
        self.level -= amount


@dataclass
class Limits:
    """One key's buckets (None: that limit is not set)."""

    requests: Bucket | None
    tokens: Bucket | None

    @classmethod
    def of(cls, rate: RateSettings) -> "Limits":
        return cls(
            requests=Bucket(rate.requests_per_minute) if rate.requests_per_minute else None,
            tokens=Bucket(rate.tokens_per_minute) if rate.tokens_per_minute else None,
        )


@dataclass(eq=False)
class Ticket:
    """One admitted request: its slot, its deadline (the event loop's clock) and whose key it came with."""

    admission: "Admission"
    key_name: str | None
    deadline: float
    released: bool = field(default=False)

    def charge(self, tokens: int) -> None:
        """The request's prompt and completion tokens, against its key's tokens per minute and in /metrics."""
        self.admission.charge(self.key_name, tokens)

    def release(self) -> None:
        """Frees the slot; safe to call more than once (a stream ends in several ways)."""
        if not self.released:
            self.released = True
            self.admission.tickets.discard(self)


class Admission:
    def __init__(self, server: ServerSettings, metrics=None):
        self.limit = server.max_concurrent_requests or default_concurrency()
        self.timeout_s = server.request_timeout_s
        self.metrics = metrics
        self.tickets: set[Ticket] = set()
        self.limits = {key.name: Limits.of(key.rate) for key in server.client_keys}
        if metrics is not None:
            metrics.admission_limit.set(self.limit)
            metrics.admission_in_flight.set_function(lambda: len(self.tickets))

    def admit(self, key: ClientKey | None) -> Ticket:
        """A slot for one chat request, or ApiError 429 with Retry-After: the key past its rate first (its
        own limit, whatever the load), then the server past max_concurrent_requests."""
        name = key.name if key is not None else None
        limits = self.limits.get(name)
        if limits is not None:
            self._check_rate(name, limits)
        self._expire()
        if len(self.tickets) >= self.limit:
            self._refused("overloaded")
            raise ApiError(
                429,
                f"the model is overloaded: {self.limit} requests are running "
                f"(server.max_concurrent_requests); retry in {OVERLOAD_RETRY_S} s",
                code="model_overloaded",
                retry_after=OVERLOAD_RETRY_S,
            )
        if limits is not None and limits.requests is not None:
            limits.requests.take(1)
        if self.metrics is not None and name is not None:
            self.metrics.key_requests.labels(name).inc()
        ticket = Ticket(
            admission=self, key_name=name, deadline=asyncio.get_running_loop().time() + self.timeout_s
        )
        self.tickets.add(ticket)
        return ticket

    def _check_rate(self, name: str, limits: Limits) -> None:
        checks = (("requests", limits.requests, 1.0), ("tokens", limits.tokens, 1e-9))
        for what, bucket, needed in checks:
            wait = bucket.wait_s(needed) if bucket is not None else 0.0
            if wait > 0:
                self._refused(f"rate_{what}")
                retry = max(1, math.ceil(wait))
                raise ApiError(
                    429,
                    f"rate limit of key '{name}' reached: {int(bucket.capacity)} {what} per minute "
                    f"(server.client_keys rate.{what}_per_minute); retry in {retry} s",
                    code="rate_limit_exceeded",
                    retry_after=retry,
                )

    def charge(self, name: str | None, tokens: int) -> None:
        limits = self.limits.get(name)
        if limits is not None and limits.tokens is not None:
            limits.tokens.take(tokens)
        if self.metrics is not None and name is not None:
            self.metrics.key_tokens.labels(name).inc(tokens)

    def timed_out(self) -> ApiError:
        if self.metrics is not None:
            self.metrics.deadline_exceeded.inc()
        return ApiError(
            503,
            f"the request did not finish within {self.timeout_s:g} s (server.request_timeout_s)",
            code="request_timeout",
            retry_after=OVERLOAD_RETRY_S,
        )

    def _expire(self) -> None:
        """Takes back slots a request never released (a stream whose client left before it started):
        the deadline has ended each of them already."""
        late = asyncio.get_running_loop().time() - LEAK_GRACE_S
        for ticket in [t for t in self.tickets if t.deadline < late]:
            ticket.release()

    def _refused(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.admission_refused.labels(reason).inc()
