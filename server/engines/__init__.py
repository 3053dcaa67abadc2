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

        return HfEngine(model_path, settings)
    raise RagtuneError(f"engine.kind: unknown engine '{settings.kind}' (use auto, vllm or transformers)")
