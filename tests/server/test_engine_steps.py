"""vLLM's step and cache-block sizes: ragtune's on CPU, vLLM's elsewhere, a setting over both."""

from core.settings import EngineSettings
from server.engines.vllm_engine import step_sizes


def test_cpu_gets_short_steps_and_small_cache_blocks_unless_the_settings_say_otherwise():
    assert step_sizes(EngineSettings(), cpu=True) == {"max_num_batched_tokens": 256, "block_size": 32}
    assert step_sizes(EngineSettings(), cpu=False) == {"max_num_batched_tokens": None, "block_size": None}
    chosen = EngineSettings(max_num_batched_tokens=2048, block_size=128)
    assert step_sizes(chosen, cpu=True) == {"max_num_batched_tokens": 2048, "block_size": 128}
    assert step_sizes(chosen, cpu=False) == {"max_num_batched_tokens": 2048, "block_size": 128}
