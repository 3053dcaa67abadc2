"""The one interface every generation engine implements, and the choice of engine from settings."""

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import RagtuneError
from core.settings import EngineSettings


@dataclass
class SamplingParams:
    max_tokens: int = 256
    min_tokens: int = 0
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass
class Delta:
    """A piece of generated text; the last one carries finish_reason ("stop" or "length") and the usage."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Engine(ABC):
    name: str  # "vllm" or "transformers"
    tokenizer: object  # the model's own tokenizer (counting and chat template)

    @abstractmethod
    def generate(
        self, messages: list[dict], params: SamplingParams, adapter: str | None
    ) -> AsyncIterator[Delta]:
        """Stream deltas; closing the iterator early cancels the generation."""

    @abstractmethod
    def adapters(self) -> list[str]: ...

    @abstractmethod
    async def load_adapter(self, name: str, path: Path) -> None: ...

    @abstractmethod
    async def unload_adapter(self, name: str) -> None: ...

    @abstractmethod
    def running(self) -> int:
        """Requests the engine is generating for right now."""

    def describe(self) -> str:
        """What `ragtune serve` says at start about the engine."""
        return self.name

    def shutdown(self) -> None:
        """Release the engine's processes and memory (nothing to do by default)."""


def vllm_importable() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def create_engine(model_path: str, settings: EngineSettings) -> Engine:
    """`auto` picks vLLM when it is importable, else transformers+PEFT."""
    kind = settings.kind
    if kind == "auto":
        kind = "vllm" if vllm_importable() else "transformers"
    if kind == "vllm":
        from server.engines.vllm_engine import VllmEngine

        return VllmEngine(model_path, settings)
    if kind == "transformers":
        from server.engines.hf_engine import HfEngine

        return HfEngine(model_path)
    raise RagtuneError(f"engine.kind: unknown engine '{settings.kind}' (use auto, vllm or transformers)")
