"""Quantised copies of a model (compressed-tensors) and the check of engine.quantization against the device,
on a tiny Llama made here so that no chat model is loaded."""

import json
from pathlib import Path

import pytest

from core.chat_model import model_fingerprint, prepare_chat_model
from core.errors import RagtuneError
from core.quantization import check_quantization, quantize_model, quantized_copies, quantized_method

TEXTS = [
    "Returns: you can return any gadget within 45 days for a full refund.",
    "退货：收到商品后 30 天内可以退货，请保留发票。",
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A two-layer Llama whose inputs are 64 wide: int4's group of 128 does not fit it."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from core.chat_model import embedded_gguf_path

    folder = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    tokenizer = AutoTokenizer.from_pretrained(
        embedded_gguf_path().parent, gguf_file=embedded_gguf_path().name
    )
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("scheme", ["w8a8", "w4a16"])
def test_a_quantised_copy_loads_and_keeps_the_adapters_of_its_source(tmp_path, tiny_model, scheme):
    import torch
    from transformers import AutoModelForCausalLM

    models = tmp_path / "models"
    target = models / f"tiny-llama-{scheme}"
    info = quantize_model(tiny_model, target, scheme, model_fingerprint(tiny_model), TEXTS, progress=print)

    assert quantized_method(str(target)) == "compressed-tensors"
    assert quantized_method(tiny_model) is None
    config = json.loads((target / "config.json").read_text())["quantization_config"]
    weights = config["config_groups"]["group_0"]["weights"]
    assert weights["num_bits"] == (8 if scheme == "w8a8" else 4)
    if scheme == "w4a16":
        assert weights["group_size"] == 64  # the largest that divides every layer's inputs
    assert model_fingerprint(str(target)) == model_fingerprint(tiny_model)
    assert info["loss_before"] > 0 and info["loss_after"] > 0
    assert quantized_copies(models) == [
        (target.name, json.loads((target / "ragtune_quantized.json").read_text()))
    ]
    assert prepare_chat_model(target.name, models) == str(target.resolve())  # chat_model may name the copy

    model = AutoModelForCausalLM.from_pretrained(target)  # transformers reads it back
    assert model(torch.tensor([[1, 2, 3]])).logits.isfinite().all()


def test_quantising_again_replaces_the_copy_whole(tmp_path, tiny_model):
    target = tmp_path / "models" / "copy"
    quantize_model(tiny_model, target, "w4a16", "f" * 16, TEXTS, progress=print)
    quantize_model(tiny_model, target, "w8a8", "f" * 16, TEXTS, progress=print)
    assert json.loads((target / "ragtune_quantized.json").read_text())["scheme"] == "w8a8"
    assert [p.name for p in target.parent.iterdir()] == ["copy"]  # no temporary folder left


def test_a_model_that_is_not_a_copy_is_never_replaced(tmp_path, tiny_model):
    before = sorted(p.name for p in Path(tiny_model).iterdir())
    with pytest.raises(RagtuneError, match="not a quantised copy"):
        quantize_model(tiny_model, Path(tiny_model), "w8a8", "f" * 16, TEXTS, progress=print)
    assert sorted(p.name for p in Path(tiny_model).iterdir()) == before
    assert quantized_method(tiny_model) is None


def test_an_unknown_scheme_is_refused_by_name(tmp_path, tiny_model):
    with pytest.raises(RagtuneError, match="'int3'"):
        quantize_model(tiny_model, tmp_path / "copy", "int3", "f" * 16, TEXTS, progress=print)
    assert not (tmp_path / "copy").exists()


def test_a_method_the_cpu_cannot_run_names_the_setting():
    check_quantization("compressed-tensors", cuda=False)
    check_quantization("fp8", cuda=True)
    with pytest.raises(RagtuneError, match=r"engine\.quantization='fp8'.*compressed-tensors, awq, gptq"):
        check_quantization("fp8", cuda=False)
