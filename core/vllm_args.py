"""vLLM's own engine arguments in ragtune's settings: engine.vllm_args passes any of vLLM's EngineArgs
through, engine.speculative is vLLM's speculative_config.

The names are checked twice. Loading the settings refuses an argument that ragtune sets from a setting of
its own (one way to set each) without importing vLLM: every command loads the settings, and importing vLLM
takes seconds. Building the engine checks every name against the installed vLLM, before vLLM starts."""

import dataclasses
import difflib

from core.errors import RagtuneError

# vLLM engine arguments ragtune sets itself, and the setting that sets each
SET_BY_RAGTUNE = {
    "model": "chat_model",
    "tokenizer": "chat_model (ragtune tokenizes with the chat model's own tokenizer)",
    "enable_lora": "ragtune itself (adapters are loadable at any time)",
    "max_loras": "engine.max_loras",
    "max_lora_rank": "engine.max_lora_rank",
    "max_model_len": "engine.max_model_len",
    "gpu_memory_utilization": "engine.gpu_memory_utilization",
    "dtype": "engine.dtype",
    "enable_prefix_caching": "engine.prefix_caching",
    "disable_log_stats": "ragtune itself (its own /metrics count the requests)",
    "quantization": "engine.quantization",
    "max_num_batched_tokens": "engine.max_num_batched_tokens",
    "block_size": "engine.block_size",
    "tensor_parallel_size": "engine.tensor_parallel_size",
    "pipeline_parallel_size": "engine.pipeline_parallel_size",
    "data_parallel_size": "engine.data_parallel_size",
    "distributed_executor_backend": "engine.distributed_executor_backend",
    "speculative_config": "engine.speculative",
    "spec_method": "engine.speculative (its method)",
    "spec_model": "engine.speculative (its model)",
    "spec_tokens": "engine.speculative (its num_speculative_tokens)",
}

# speculative_config fields vLLM fills in from the target model; a team never sets them
SPECULATIVE_FILLED_BY_VLLM = frozenset(
    {"target_model_config", "target_parallel_config", "draft_model_config", "draft_parallel_config"}
)


def refuse_set_by_ragtune(vllm_args: dict) -> None:
    """engine.vllm_args may not set what a ragtune setting sets (ValueError: a settings error)."""
    for name in vllm_args:
        if name in SET_BY_RAGTUNE:
            raise ValueError(
                f"engine.vllm_args: {name!r} is set by {SET_BY_RAGTUNE[name]}; set it there, not in vllm_args"
            )


def check_names(vllm_args: dict, speculative: dict) -> None:
    """Every name in engine.vllm_args is one of the installed vLLM's engine arguments and every name in
    engine.speculative one of its speculative_config's; a RagtuneError names the bad one and the closest."""
    import vllm
    from vllm.config import SpeculativeConfig
    from vllm.engine.arg_utils import AsyncEngineArgs

    arguments = [f.name for f in dataclasses.fields(AsyncEngineArgs) if not f.name.startswith("_")]
    _check("engine.vllm_args", vllm_args, arguments, f"vLLM {vllm.__version__}'s engine arguments")
    known = [
        f.name for f in dataclasses.fields(SpeculativeConfig) if f.name not in SPECULATIVE_FILLED_BY_VLLM
    ]
    _check("engine.speculative", speculative, known, f"vLLM {vllm.__version__}'s speculative_config")


def _check(setting: str, given: dict, known: list[str], what: str) -> None:
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RagtuneError(f"{setting}: {name!r} is not one of {what}{hint}")
