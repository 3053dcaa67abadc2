"""A quantised copy of the chat model (`ragtune models quantize`) served through vLLM, with an adapter trained
on the unquantised model."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from core.chat_model import model_fingerprint
from core.errors import RagtuneError
from core.process import free_port, server_process
from core.quantization import quantize_model
from core.settings import EngineSettings

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
pytest.importorskip("vllm")

KEY = "quantised-test-key"
CALIBRATION = ["Returns are accepted within 45 days.", "商品收到后 30 天内可以退货。"]
QUESTIONS = {"en": "What is the capital of France?", "zh": "法国的首都是哪里？"}


def test_a_quantised_copy_serves_the_base_and_an_adapter_of_the_original(
    tmp_path, chat_model_path, adapter_factory
):
    from openai import OpenAI

    home = tmp_path / "home"
    copy = home / "models" / "SmolLM2-135M-Instruct-w8a8"
    quantize_model(
        chat_model_path, copy, "w8a8", model_fingerprint(chat_model_path), CALIBRATION, progress=print
    )
    adapter_factory(chat_model_path, home / "adapters" / "tiny", "tiny")
    port = free_port()
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "RAGTUNE_CHAT_MODEL": copy.name,  # a copy in the models folder is named, not given as a path
        "RAGTUNE_ENGINE__KIND": "vllm",
        "RAGTUNE_ENGINE__KV_CACHE_SPACE_GIB": "1",
        "RAGTUNE_SERVER__CLIENT_KEYS": json.dumps([KEY]),
    }
    ragtune = shutil.which("ragtune", path=str(Path(sys.executable).parent)) or "ragtune"
    url, log = f"http://127.0.0.1:{port}", tmp_path / "server.log"
    command = [ragtune, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with server_process(command, env, log, f"{url}/readyz", name="ragtune serve (quantised)"):
        client = OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=120)
        served = {m.id for m in client.models.list().data}
        assert served >= {copy.name, "tiny"}
        for language, question in QUESTIONS.items():
            answers = {}
            for model in (copy.name, "tiny"):
                reply = client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": question}],
                    max_tokens=12,
                    temperature=0,
                    extra_body={"rag": {"enabled": False}},
                )
                answers[model] = reply.choices[0].message.content
                assert answers[model].strip(), (language, model)
            assert answers["tiny"] != answers[copy.name], language  # the adapter's weights take part
    assert "compressed-tensors quantised" in log.read_text()  # `ragtune serve` says what it serves


def test_fp8_on_a_cpu_is_refused_before_vllm_starts(chat_model_path):
    import torch

    from server.engines.vllm_engine import VllmEngine

    if torch.cuda.is_available():
        pytest.skip("vLLM runs fp8 on a GPU")

    with pytest.raises(RagtuneError, match=r"engine\.quantization='fp8'"):
        VllmEngine(chat_model_path, EngineSettings(quantization="fp8"))
