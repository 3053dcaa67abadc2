"""The one interface every generation engine implements."""

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import NotFoundError

logger = logging.getLogger(__name__)


@dataclass
class SamplingParams:
    max_tokens: int = 256
    min_tokens: int = 0
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repetition_penalty: float = 1.0
    logprobs: int | None = None  # None: off; k: the chosen token's and the k most likely ones
    json_schema: dict | None = None  # structured output: the answer is JSON matching this schema
    json_object: bool = False  # structured output: the answer is a JSON object

    def features(self) -> set[str]:
        """The optional features this request needs (an engine lists those it has in `supports`)."""
        needed = set()
        if self.frequency_penalty or self.presence_penalty:
            needed.add("frequency_penalty/presence_penalty")
        if self.logprobs is not None:
            needed.add("logprobs")
        if self.json_schema is not None or self.json_object:
            needed.add("response_format/tools")
        return needed


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]]  # (token, logprob), most likely first


@dataclass
class Delta:
    """A piece of generated text; the last one carries finish_reason ("stop" or "length") and the usage."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    logprobs: list[TokenLogprob] = field(default_factory=list)
    cached_tokens: int = 0  # prompt tokens whose keys and values came from the engine's prefix cache


class InUse:
    """Generations in flight per loaded adapter version: an adapter is removed from the engine only once
    the last generation using it has ended, so an unload or a reload never breaks a request under way."""

    def __init__(self):
        self._counts: Counter = Counter()
        self._retiring: set[asyncio.Task] = set()  # kept, so a removal under way is not garbage-collected

    @contextmanager
    def hold(self, version: Hashable) -> Iterator[None]:
        self._counts[version] += 1
        try:
            yield
        finally:
            self._counts[version] -= 1

    async def idle(self, version: Hashable, poll_s: float = 0.05) -> None:
        while self._counts[version] > 0:
            await asyncio.sleep(poll_s)

    def remove_when_idle(self, version: Hashable, remove: Callable[[], Awaitable[None]]) -> None:
        """Removes a retired version once its last generation has ended, in the background: the load or
        unload that retired it (and the lock its caller holds) does not wait for generations under way."""

        async def retire() -> None:
            await self.idle(version)
            await remove()

        task = asyncio.create_task(retire())
        self._retiring.add(task)
        task.add_done_callback(self._retired)

    def _retired(self, task: asyncio.Task) -> None:
        self._retiring.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a retired adapter version could not be removed: %s", task.exception())


def unloaded(adapter: str) -> NotFoundError:
    """A request planned with an adapter that was unloaded before its generation started."""
    return NotFoundError(
        f"The model '{adapter}' was unloaded; GET /v1/models lists the served models",
        param="model",
        code="model_not_found",
    )


class Engine(ABC):
    name: str  # "vllm" or "transformers"
    tokenizer: object  # the model's own tokenizer (counting and chat template)
    supports: frozenset[str] = frozenset()  # optional features, named as SamplingParams.features() names them

    @abstractmethod
    def generate(
        self, prompt_ids: list[int], params: SamplingParams, adapter: str | None
    ) -> AsyncIterator[Delta]:
        """Stream deltas for the prompt's token ids; closing the iterator early cancels the generation."""

    @abstractmethod
    def adapters(self) -> list[str]: ...

    @abstractmethod
    async def load_adapter(self, name: str, path: Path) -> None:
        """Load the adapter; when `name` is loaded already, its new version replaces it only once loaded
        (a failed load leaves the old one serving), and the old one goes when its last request ends (in the
        background: this returns once the new version serves)."""

    @abstractmethod
    async def unload_adapter(self, name: str) -> None:
        """New requests can no longer use it at once; it is removed when its last request has ended (in the
        background: this returns at once)."""

    @abstractmethod
    def running(self) -> int:
        """Requests the engine is generating for right now."""

    def alive(self) -> bool:
        """False once the engine can no longer generate (its core process died): /readyz says so."""
        return True

    def describe(self) -> str:
        """What `ragtune serve` says at start about the engine."""
        return self.name

    def shutdown(self) -> None:
        """Release the engine's processes and memory (nothing to do by default)."""
