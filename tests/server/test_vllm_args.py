"""Engine settings reach vLLM's engine configuration (built, never started): the parallel sizes, the
executor, speculative decoding and the arguments passed through; a bad name or a size vLLM refuses is a
settings error that says which."""

import pytest

from core.errors import RagtuneError
from core.settings import EngineSettings
from core.vllm_args import SET_BY_RAGTUNE, check_names

pytestmark = pytest.mark.vllm
pytest.importorskip("vllm")


def config_of(chat_model_path, settings: EngineSettings):
    from vllm.engine.arg_utils import AsyncEngineArgs

    from server.engines.vllm_engine import engine_arguments, engine_config, step_sizes

    arguments = engine_arguments(chat_model_path, settings, "float32", None, step_sizes(settings, cpu=True))
    return engine_config(AsyncEngineArgs(**arguments))


def test_a_name_vllm_does_not_know_is_refused_with_the_closest_one():
    with pytest.raises(RagtuneError, match=r"engine\.vllm_args: 'max_num_seq' .*did you mean 'max_num_seqs'"):
        check_names({"max_num_seq": 64}, {})
    with pytest.raises(RagtuneError, match=r"engine\.speculative: 'num_spec_tokens' .* 'num_speculative_tokens'"):
        check_names({}, {"method": "ngram", "num_spec_tokens": 3})
    with pytest.raises(RagtuneError, match=r"engine\.speculative: 'target_model_config'"):
        check_names({}, {"target_model_config": None})  # vLLM fills it in itself
    check_names({"max_num_seqs": 64, "enforce_eager": True}, {"method": "ngram", "num_speculative_tokens": 3})


def test_every_argument_ragtune_sets_is_one_of_vllms_and_none_is_left_out_of_the_refused_list(chat_model_path):
    from server.engines.vllm_engine import engine_arguments

    check_names(dict.fromkeys(SET_BY_RAGTUNE), {})  # each is a real vLLM engine argument
    steps = {"max_num_batched_tokens": None, "block_size": None}
    assert set(engine_arguments(chat_model_path, EngineSettings(), "auto", None, steps)) <= set(SET_BY_RAGTUNE)


def test_the_settings_reach_vllms_engine_configuration(chat_model_path):
    from server.engines.vllm_engine import describe_distribution

    settings = EngineSettings(
        pipeline_parallel_size=2,
        distributed_executor_backend="mp",
        speculative={"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4},
        vllm_args={"max_num_seqs": 7},
    )
    config = config_of(chat_model_path, settings)
    assert config.parallel_config.pipeline_parallel_size == 2
    assert config.parallel_config.distributed_executor_backend == "mp"
    assert config.speculative_config.method == "ngram"
    assert config.speculative_config.num_speculative_tokens == 3
    assert config.scheduler_config.max_num_seqs == 7
    assert config.lora_config is not None  # adapters stay loadable
    report = describe_distribution(config.parallel_config, settings)
    assert "pipeline parallel 2" in report
    assert "mp executor (engine.distributed_executor_backend)" in report
    assert "speculative decoding method='ngram', num_speculative_tokens=3" in report
    assert "passed to vLLM: max_num_seqs=7" in report


def test_a_size_the_model_cannot_take_is_a_settings_error(chat_model_path):
    refused = r"vLLM refuses the engine settings.*: Value error, Total number of attention heads \(9\)"
    with pytest.raises(RagtuneError, match=refused):
        config_of(chat_model_path, EngineSettings(tensor_parallel_size=2))
