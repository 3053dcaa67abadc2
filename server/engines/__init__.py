"""Generation engines behind one interface (server/engines/base.py), and the choice of one from settings."""

from core.errors import RagtuneError
from core.settings import EngineSettings
from server.engines.base import Delta, Engine, SamplingParams, TokenLogprob

__all__ = ["Delta", "Engine", "SamplingParams", "TokenLogprob", "create_engine"]


def vllm_importable() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


VLLM_ONLY = (
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "data_parallel_size",
    "distributed_executor_backend",
    "speculative",
    "vllm_args",
)


def vllm_only_settings(settings: EngineSettings) -> list[str]:
    """The settings of vLLM's distribution and pass-through that differ from their defaults."""
    default = EngineSettings()
    return [name for name in VLLM_ONLY if getattr(settings, name) != getattr(default, name)]


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

        if settings.quantization != "none":
            raise RagtuneError(
                f"engine.quantization={settings.quantization!r} is applied by vLLM only; the transformers engine "
                "loads a quantised copy as its config says (leave engine.quantization at 'none')"
            )
        if unused := vllm_only_settings(settings):
            raise RagtuneError(
                f"{', '.join(f'engine.{name}' for name in unused)}: applied by vLLM only, and the engine is "
                "transformers (set engine.kind to vllm where vLLM is installed, or leave them at their defaults)"
            )
        return HfEngine(model_path, settings)
    raise RagtuneError(f"engine.kind: unknown engine '{settings.kind}' (use auto, vllm or transformers)")
