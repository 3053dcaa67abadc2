"""engine.vllm_args refuses what a ragtune setting sets, naming that setting, without vLLM."""

import pytest
from pydantic import ValidationError

from core.settings import EngineSettings, Settings


def test_an_argument_a_setting_sets_is_refused_in_vllm_args_naming_the_setting():
    with pytest.raises(ValidationError, match=r"'max_loras' is set by engine\.max_loras"):
        EngineSettings(vllm_args={"max_loras": 8})
    with pytest.raises(ValidationError, match=r"'speculative_config' is set by engine\.speculative"):
        EngineSettings(vllm_args={"speculative_config": {"method": "ngram"}})


def test_vllm_args_from_the_environment_are_checked_and_passed_on(monkeypatch, tmp_path):
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path))
    monkeypatch.setenv("RAGTUNE_ENGINE__VLLM_ARGS", '{"tensor_parallel_size": 2}')
    with pytest.raises(ValidationError, match=r"set by engine\.tensor_parallel_size"):
        Settings()
    monkeypatch.setenv("RAGTUNE_ENGINE__VLLM_ARGS", '{"max_num_seqs": 64, "enforce_eager": true}')
    monkeypatch.setenv("RAGTUNE_ENGINE__TENSOR_PARALLEL_SIZE", "2")
    engine = Settings().engine
    assert engine.vllm_args == {"max_num_seqs": 64, "enforce_eager": True}
    assert engine.tensor_parallel_size == 2


def test_parallel_sizes_and_the_executor_are_typed():
    with pytest.raises(ValidationError, match="tensor_parallel_size"):
        EngineSettings(tensor_parallel_size=0)
    with pytest.raises(ValidationError, match="distributed_executor_backend"):
        EngineSettings(distributed_executor_backend="slurm")
