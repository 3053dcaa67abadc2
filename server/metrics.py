"""Prometheus metrics (one registry per app): requests, errors, latency, time to first token,
tokens/s, prompt tokens and those the prefix cache served, retrieval latency, per model; plus cancelled
streams and the engine's running requests; admission (limit, in flight, refused, timeouts) and usage per
client key (by its configured name)."""

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self, engine_running=None):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("ragtune_requests", "Chat completion requests", ["model"], registry=r)
        self.errors = Counter("ragtune_errors", "Error responses", ["model", "status"], registry=r)
        self.latency = Histogram(
            "ragtune_request_latency_seconds", "Whole request", ["model"], buckets=_SLOW, registry=r
        )
        self.ttft = Histogram(
            "ragtune_time_to_first_token_seconds", "Time to first token", ["model"], buckets=_SLOW, registry=r
        )
        self.tokens_per_second = Histogram(
            "ragtune_tokens_per_second",
            "Completion tokens per second of one request",
            ["model"],
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000),
            registry=r,
        )
        self.completion_tokens = Counter(
            "ragtune_completion_tokens", "Generated tokens", ["model"], registry=r
        )
        self.prompt_tokens = Counter("ragtune_prompt_tokens", "Prompt tokens", ["model"], registry=r)
        self.cached_prompt_tokens = Counter(
            "ragtune_cached_prompt_tokens",
            "Prompt tokens read from the engine's prefix cache instead of computed",
            ["model"],
            registry=r,
        )
        self.retrieval_latency = Histogram(
            "ragtune_retrieval_latency_seconds", "Knowledge-base search", buckets=_FAST, registry=r
        )
        self.cancelled = Counter(
            "ragtune_cancelled_streams", "Streams cancelled by a client disconnect", ["model"], registry=r
        )
        self.disconnected = Counter(
            "ragtune_disconnected_requests",
            "Non-streaming requests whose client left before the answer (generation stopped)",
            ["model"],
            registry=r,
        )
        self.running = Gauge(
            "ragtune_engine_running_requests", "Requests the engine is generating", registry=r
        )
        if engine_running is not None:
            self.running.set_function(engine_running)
        self.grounding = Counter(
            "ragtune_grounding_decisions", "RAG requests answered or given the fallback", ["decision"], registry=r
        )
        self.answer_checks = Counter(
            "ragtune_answer_checks", "Answers checked against their sources after generation", ["result"], registry=r
        )
        self.dialogue = Counter(
            "ragtune_dialogue_turns",
            "Conversational turns answered with a preset reply (greeting, thanks, ...), by act",
            ["act"],
            registry=r,
        )
        self.curated = Counter(
            "ragtune_curated_answers",
            "Questions a curated answer matched: served, or not served because it is stale",
            ["result"],
            registry=r,
        )
        self.handoffs = Counter("ragtune_handoffs", "Hand-offs to a person, by reason", ["reason"], registry=r)
        self.rail_actions = Counter(
            "ragtune_rail_actions", "Rail rule matches", ["side", "rule", "action"], registry=r
        )
        self.experiment_requests = Counter(
            "ragtune_experiment_requests", "Requests per A/B variant", ["experiment", "variant"], registry=r
        )
        self.log_dropped = Gauge(
            "ragtune_conversation_log_dropped", "Log rows dropped because the queue was full", registry=r
        )
        self.handoff_webhook = Counter(
            "ragtune_handoff_webhook",
            "Hand-offs posted to handoff.webhook_url: delivered, failed (retries spent or refused), dropped"
            " (queue full or the server stopping)",
            ["result"],
            registry=r,
        )
        self.handoff_webhook_retries = Counter(
            "ragtune_handoff_webhook_retries", "Hand-off webhook attempts after a failed one", registry=r
        )
        self.handoff_webhook_queued = Gauge(
            "ragtune_handoff_webhook_queued", "Hand-offs waiting for or in delivery", registry=r
        )

        self.admission_limit = Gauge(
            "ragtune_admission_limit",
            "Chat requests admitted at once (server.max_concurrent_requests)",
            registry=r,
        )
        self.admission_in_flight = Gauge(
            "ragtune_admission_in_flight", "Chat requests admitted and not yet finished", registry=r
        )
        self.admission_refused = Counter(
            "ragtune_admission_refused",
            "Chat requests refused with 429: overloaded, rate_requests, rate_tokens (a key past its rate)",
            ["reason"],
            registry=r,
        )
        self.rate_limit_local = Counter(
            "ragtune_rate_limit_local",
            "Chat requests whose key's rate this process decided alone: the feedback database that shares "
            "the rates between replicas did not answer",
            registry=r,
        )
        self.deadline_exceeded = Counter(
            "ragtune_request_timeouts", "Chat requests ended by server.request_timeout_s", registry=r
        )
        self.scope_refused = Counter(
            "ragtune_scope_refused",
            "Requests refused with 403 outside their key's scope",
            ["field"],
            registry=r,
        )
        self.engine_alive = Gauge(
            "ragtune_engine_alive", "1 while the engine can generate, else 0", registry=r
        )
        # Per client key, labelled by its configured name (server.client_keys), so the series stay bounded
        self.key_requests = Counter(
            "ragtune_key_requests", "Chat requests admitted per key", ["key"], registry=r
        )
        self.key_tokens = Counter(
            "ragtune_key_tokens", "Prompt and completion tokens per key", ["key"], registry=r
        )

    def watch_log(self, dropped) -> None:
        """`dropped`: a function giving the conversation log's dropped rows."""
        self.log_dropped.set_function(dropped)


class Recorder:
    """One request's timing into the metrics: latency, time to first token, tokens/s."""

    def __init__(self, metrics: Metrics, model: str):
        self.metrics, self.model = metrics, model
        self.started = time.perf_counter()
        self.first: float | None = None

    def token(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()
            self.metrics.ttft.labels(self.model).observe(self.first - self.started)

    def done(self, completion_tokens: int, prompt_tokens: int, cached_tokens: int) -> None:
        ended = time.perf_counter()
        self.metrics.latency.labels(self.model).observe(ended - self.started)
        self.metrics.completion_tokens.labels(self.model).inc(completion_tokens)
        self.metrics.prompt_tokens.labels(self.model).inc(prompt_tokens)
        self.metrics.cached_prompt_tokens.labels(self.model).inc(cached_tokens)
        if self.first is not None and ended > self.first and completion_tokens > 1:
            self.metrics.tokens_per_second.labels(self.model).observe(
                (completion_tokens - 1) / (ended - self.first)
            )
