"""vLLM's async engine in process: continuous batching, one LoRARequest per request.

Starting it spawns vLLM's engine-core process, so code that constructs it must run under
`if __name__ == "__main__"` (the `ragtune serve` process is fine).
"""

import itertools
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

from transformers import AutoTokenizer

from core.errors import RagtuneError
from core.settings import EngineSettings
from server.engines import vllm_cpu_lora
from server.engines.base import Delta, Engine, SamplingParams
from core.prompt import render_prompt


class VllmEngine(Engine):
    name = "vllm"

    def __init__(self, model_path: str, settings: EngineSettings):
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(settings.kv_cache_space_gib)
        os.environ[vllm_cpu_lora.ENV_FLAG] = "1" if settings.grouped_cpu_lora else "0"  # for vLLM's processes
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncEngineArgs(
            model=model_path,
            enable_lora=True,
            max_loras=settings.max_loras,
            max_lora_rank=settings.max_lora_rank,
            max_model_len=settings.max_model_len,
            gpu_memory_utilization=settings.gpu_memory_utilization,
            disable_log_stats=True,
        )
        self.llm = AsyncLLM.from_engine_args(args)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self._loras: dict = {}  # name -> LoRARequest
        self._ids = itertools.count(1)

    async def generate(
        self, messages: list[dict], params: SamplingParams, adapter: str | None
    ) -> AsyncIterator[Delta]:
        from vllm import SamplingParams as VllmSampling
        from vllm.inputs.engine import tokens_input
        from vllm.sampling_params import RequestOutputKind

        prompt_ids = self.tokenizer(render_prompt(messages, self.tokenizer), add_special_tokens=False)[
            "input_ids"
        ]
        sampling = VllmSampling(
            max_tokens=params.max_tokens,
            min_tokens=params.min_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=params.stop or None,
            seed=params.seed,
            output_kind=RequestOutputKind.DELTA,
        )
        lora = self._loras[adapter] if adapter else None
        completion_tokens = 0
        # aclosing: when our caller stops early (client gone), vLLM's generator aborts the request.
        stream = self.llm.generate(tokens_input(prompt_ids), sampling, uuid.uuid4().hex, lora_request=lora)
        async with aclosing(stream) as outputs:
            async for out in outputs:
                piece = out.outputs[0]
                completion_tokens += len(piece.token_ids)
                finish = piece.finish_reason if out.finished else None
                yield Delta(piece.text, finish, len(prompt_ids), completion_tokens)

    def describe(self) -> str:
        from vllm.platforms import current_platform

        if current_platform.is_cpu():
            ops = "ragtune's grouped ops" if vllm_cpu_lora.active() else "vLLM's per-token ops"
            return f"vllm (CPU; LoRA through {ops})"
        return "vllm"

    def adapters(self) -> list[str]:
        return list(self._loras)

    async def load_adapter(self, name: str, path: Path) -> None:
        from vllm.lora.request import LoRARequest

        request = LoRARequest(name, next(self._ids), str(path))
        try:
            await self.llm.add_lora(request)
        except Exception as err:  # vLLM reports a bad adapter with many exception types
            raise RagtuneError(f"adapter '{name}' at {path}: vLLM cannot load it: {err}") from err
        self._loras[name] = request

    async def unload_adapter(self, name: str) -> None:
        request = self._loras.pop(name)
        await self.llm.remove_lora(request.lora_int_id)

    def running(self) -> int:
        return self.llm.get_num_unfinished_requests()

    def shutdown(self) -> None:
        self.llm.shutdown()
