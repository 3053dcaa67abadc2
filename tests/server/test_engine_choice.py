"""The transformers engine refuses the settings only vLLM applies, instead of serving without them."""

import pytest

from core.errors import RagtuneError
from core.settings import EngineSettings
from server.engines import create_engine


def test_the_transformers_engine_refuses_what_only_vllm_applies():
    chosen = EngineSettings(kind="transformers", pipeline_parallel_size=2, vllm_args={"max_num_seqs": 8})
    refused = r"engine\.pipeline_parallel_size, engine\.vllm_args: applied by vLLM only"
    with pytest.raises(RagtuneError, match=refused):
        create_engine("unused: refused before any model loads", chosen)
