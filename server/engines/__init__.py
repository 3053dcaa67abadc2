"""Generation engines behind one interface: vLLM (in process) and a transformers+PEFT fallback."""

from server.engines.base import Delta, Engine, SamplingParams, create_engine

__all__ = ["Delta", "Engine", "SamplingParams", "create_engine"]
