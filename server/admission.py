"""Admission control for chat requests: how many run at once (server.max_concurrent_requests; past it a 429
"the model is overloaded" with Retry-After at once, as TGI answers, rather than a queue that makes everyone
wait), how long one may take (server.request_timeout_s), and each client key's requests and tokens per minute
(token buckets). With a PostgreSQL feedback database the buckets are shared by every replica that names it
(feedback/rates.py), asked from a thread of their own with a short timeout; while the database cannot
answer, each process decides with buckets of its own (counted in ragtune_rate_limit_local, logged), so an
outage never stalls or fails a chat request. Without one, the buckets live in this process."""

import asyncio
import logging
import math
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from core.settings import ClientKey, RateSettings, ServerSettings
from feedback.rates import Levels, SharedRates
from server.errors import ApiError

logger = logging.getLogger(__name__)
OVERLOAD_RETRY_S = 1  # an overloaded server frees slots as answers end: clients may try again soon
LEAK_GRACE_S = 30.0  # a slot whose request outlived its deadline by this much is taken back (see _expire)
# The shared buckets are one small upsert away: a database slower than this is treated as unreachable, and
# not asked again for a while (errors wait for the store's own backoff), so no request waits on it twice.
SHARED_TIMEOUT_S = 0.5
SHARED_RETRY_S = 5.0


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
    """One key's rate and this process's buckets for it (None: that limit is not set)."""

    rate: RateSettings
    requests: Bucket | None
    tokens: Bucket | None

    @classmethod
    def of(cls, rate: RateSettings) -> "Limits":
        return cls(
            rate=rate,
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
    def __init__(self, server: ServerSettings, metrics=None, shared: SharedRates | None = None):
        """`shared`: the feedback database's buckets, shared by replicas (None: this process's own)."""
        self.limit = server.max_concurrent_requests or default_concurrency()
        self.timeout_s = server.request_timeout_s
        self.metrics = metrics
        self.tickets: set[Ticket] = set()
        self.limits = {  # the keys with a rate
            key.name: Limits.of(key.rate)
            for key in server.client_keys
            if key.rate.requests_per_minute or key.rate.tokens_per_minute
        }
        self.shared = shared if self.limits else None
        # One thread: the database's calls wait in line there, never in the default pool chat requests use.
        self._asking = ThreadPoolExecutor(1, thread_name_prefix="ragtune-rates") if self.shared else None
        self._shared_again = 0.0  # the event loop's time before which the shared buckets are not asked
        self._shared_down = False
        if metrics is not None:
            metrics.admission_limit.set(self.limit)
            metrics.admission_in_flight.set_function(lambda: len(self.tickets))

    async def admit(self, key: ClientKey | None) -> Ticket:
        """A slot for one chat request, or ApiError 429 with Retry-After: the server past
        max_concurrent_requests, or the key past its rate (the slot is held while its rate is asked)."""
        name = key.name if key is not None else None
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
        ticket = Ticket(
            admission=self, key_name=name, deadline=asyncio.get_running_loop().time() + self.timeout_s
        )
        self.tickets.add(ticket)
        limits = self.limits.get(name)
        try:
            if limits is not None:
                await self._spend_request(name, limits)
        except BaseException:
            ticket.release()
            raise
        if self.metrics is not None and name is not None:
            self.metrics.key_requests.labels(name).inc()
        return ticket

    async def _spend_request(self, name: str, limits: Limits) -> None:
        """One request from the key's buckets, or a 429. The shared buckets decide when the database
        answers; this process's buckets otherwise. Either way this process's buckets follow its own use, so
        that they carry on from there if the database goes."""
        levels = await self._shared_spend(name, limits.rate, take_requests=1.0, check=True)
        if levels is None:
            checks = (("requests", limits.requests, 1.0), ("tokens", limits.tokens, 1e-9))
            for what, bucket, needed in checks:
                if bucket is not None and bucket.wait_s(needed) > 0:
                    self._rate_refused(name, what, bucket.wait_s(needed))
        elif not levels.granted:
            rate = limits.rate
            if levels.requests is not None and levels.requests < 1:
                self._rate_refused(name, "requests", (1 - levels.requests) * 60 / rate.requests_per_minute)
            self._rate_refused(name, "tokens", (1e-9 - levels.tokens) * 60 / rate.tokens_per_minute)
        if limits.requests is not None:
            limits.requests.take(1)

    async def _shared_spend(self, name: str, rate: RateSettings, **spend) -> Levels | None:
        """The shared buckets after the spend; None when there are none or the database did not answer
        within SHARED_TIMEOUT_S (then it is not asked again for SHARED_RETRY_S, or while the store backs
        off after an error)."""
        if self.shared is None:
            return None
        loop = asyncio.get_running_loop()
        if loop.time() < self._shared_again or self.shared.retry_in > 0:
            self._local("the feedback database is still unreachable")
            return None
        call = partial(self.shared.spend, name, rate.requests_per_minute, rate.tokens_per_minute, **spend)
        try:  # a call still waiting for the thread when the time is up is cancelled, never run late
            levels = await asyncio.wait_for(loop.run_in_executor(self._asking, call), SHARED_TIMEOUT_S)
        except Exception as err:  # noqa: BLE001 - whatever the database did, the request goes on
            if isinstance(err, TimeoutError):
                self._shared_again = loop.time() + SHARED_RETRY_S
            self._local(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
            return None
        if self._shared_down:
            self._shared_down = False
            logger.warning("shared rate limits: the feedback database answers again; replicas share them")
        return levels

    def _local(self, why: str) -> None:
        if not self._shared_down:
            self._shared_down = True
            logger.warning(
                "shared rate limits: the feedback database did not answer (%s); each replica applies the "
                "client keys' rates on its own until it does",
                why,
            )
        if self.metrics is not None:
            self.metrics.rate_limit_local.inc()

    def _rate_refused(self, name: str, what: str, wait: float) -> None:
        self._refused(f"rate_{what}")
        per_minute = getattr(self.limits[name].rate, f"{what}_per_minute")
        retry = max(1, math.ceil(wait))
        raise ApiError(
            429,
            f"rate limit of key '{name}' reached: {per_minute} {what} per minute "
            f"(server.client_keys rate.{what}_per_minute); retry in {retry} s",
            code="rate_limit_exceeded",
            retry_after=retry,
        )

    def charge(self, name: str | None, tokens: int) -> None:
        """Tokens against the key's buckets: this process's at once, the shared ones in the background
        (the answer is not held for it; a charge the database misses is lost, not retried)."""
        limits = self.limits.get(name)
        if limits is not None and limits.tokens is not None:
            limits.tokens.take(tokens)
            if self._asking is not None and not self._shared_down:
                rate = limits.rate
                call = partial(self.shared.spend, name, rate.requests_per_minute, rate.tokens_per_minute)
                self._asking.submit(call, take_tokens=float(tokens), check=False).add_done_callback(_missed)
        if self.metrics is not None and name is not None:
            self.metrics.key_tokens.labels(name).inc(tokens)

    def close(self) -> None:
        """Closes the shared buckets' connection after the charges already sent; never waits for it."""
        if self._asking is not None:
            self._asking.submit(self.shared.close)
            self._asking.shutdown(wait=False)

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


def _missed(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning(
            "shared rate limits: a token charge did not reach the database: %s", future.exception()
        )
