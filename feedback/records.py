"""What the feedback database holds: one `ChatRecord` per chat completion, at most one `Feedback` on it."""

import time
from dataclasses import dataclass, field

RATINGS = ("up", "down")


@dataclass
class ChatRecord:
    """One chat completion as the chat service saw it; filled by the service, stored by the log."""

    response_id: str  # the completion's `id` ("chatcmpl-..."), what feedback names
    model: str  # the `model` the client asked for (a served model or an experiment's name)
    messages: list[dict]  # the request's messages, {role, content} with text content
    answer: str  # the text the user was shown (after output rails)
    sources: list[dict] = field(
        default_factory=list
    )  # citations shown: source, title, document_id, chunk_id, score
    adapter: str | None = None  # the adapter that answered; None: the base model
    collection: str | None = None  # knowledge-base collection searched; None: RAG off
    experiment: str | None = None
    variant: str | None = None
    # What the rails decided, e.g. {"grounding": {"fallback": false}, "handoff": null, "rails": {...}}
    decisions: dict = field(default_factory=dict)
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    user_id: str | None = None  # the request's `user`; stored pseudonymised when masking is on
    client: str | None = None  # the name of the client key it came with (server.client_keys); None: no key
    created: float = field(default_factory=time.time)  # epoch seconds
    # How a generated answer's prompt was built, so training can rebuild it exactly (the KTO export):
    # {"system_prompt", "style", "sources": [{text, title, source}] as the prompt got them, or None with RAG
    # off}. None: answered without generating (a preset reply, the fallback, a curated answer).
    prompt: dict | None = None

    @property
    def fallback(self) -> bool:
        return bool((self.decisions.get("grounding") or {}).get("fallback"))

    @property
    def handoff(self) -> bool:
        return self.decisions.get("handoff") is not None


@dataclass
class Feedback:
    """A user's verdict on one response; `preferred_over` names the response it beat on the compare page."""

    response_id: str
    rating: str  # "up" | "down"
    reason: str | None = None
    corrected_answer: str | None = None
    preferred_over: str | None = None
    created: float = field(default_factory=time.time)
