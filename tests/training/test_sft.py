"""LoRA SFT on a tiny model: validation loss falls, the adapter changes answers and loads in transformers;
resume continues the step count; DPO runs a step; a merged model equals base + adapter."""

import json

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.adapters import read_adapter_info
from core.chat_model import model_fingerprint
from core.errors import RagtuneError
from core.prompt import DEFAULT_SYSTEM_PROMPT, PROMPT_FORMAT, build_prompt, render_prompt
from tests.training.conftest import folders, tiny_training
from training.data import PreferencePair
from training.dpo import train_dpo
from training.encoding import encode
from training.merge import merge_adapter
from training.sft import train_sft

pytestmark = pytest.mark.slow  # whole training runs of several epochs; the CLI tests keep short ones fast
QUESTION = [{"role": "user", "content": "Question 99: does the lamp have a warranty?"}]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model, make_samples):
    """One SFT run shared by the tests that only read its result."""
    from core.settings import Settings

    settings = tiny_training(Settings(home=tmp_path_factory.mktemp("home"), chat_model=tiny_model))
    result = sft(settings, make_samples(32), make_samples(8, offset=50), name="house")
    return settings, result


def sft(settings, train, val, **options):
    """train_sft with the settings' training section, folders and chat model, quietly."""
    return train_sft(
        train,
        val,
        training=settings.training,
        folders=folders(settings),
        base_model=settings.chat_model,
        progress=False,
        **options,
    )


def val_loss(model, tokenizer, samples, system_prompt) -> float:
    losses = []
    for sample in samples:
        example = encode(sample, None, tokenizer=tokenizer, system_prompt=system_prompt, max_len=128)
        with torch.no_grad():
            out = model(
                input_ids=torch.tensor([example["input_ids"]]), labels=torch.tensor([example["labels"]])
            )
        losses.append(out.loss.item())
    return sum(losses) / len(losses)


def answer(model, tokenizer, system_prompt) -> str:
    messages = build_prompt(
        QUESTION, None, tokenizer=tokenizer, system_prompt=system_prompt, max_prompt_tokens=128
    ).messages
    ids = tokenizer(
        render_prompt(messages, tokenizer), return_tensors="pt", add_special_tokens=False
    ).input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def test_training_lowers_validation_loss_and_writes_the_adapter(trained, tiny_model, make_samples):
    settings, result = trained
    out = settings.adapters_dir / "house"
    assert result.output_dir == out
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "ragtune_adapter.json",
        "loss_curve.png",
    ):
        assert (out / name).exists(), name
    info = read_adapter_info(out)
    assert info.base_fingerprint == model_fingerprint(tiny_model) and info.prompt_format == PROMPT_FORMAT
    assert info.method == "sft" and info.rank == 8 and len(info.data_fingerprint) == 16 and info.created
    assert info.perplexity == pytest.approx(torch.tensor(info.validation_loss).exp().item(), rel=1e-4)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    before = val_loss(base, tokenizer, make_samples(8, offset=50), DEFAULT_SYSTEM_PROMPT)
    assert info.validation_loss < before * 0.7
    eval_losses = [e["eval_loss"] for e in result.log_history if "eval_loss" in e]
    assert len(eval_losses) >= 3 and eval_losses[-1] < eval_losses[0]


def test_adapter_loads_in_transformers_and_changes_answers(trained, tiny_model):
    settings, _ = trained
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    plain = answer(base, tokenizer, DEFAULT_SYSTEM_PROMPT)
    tuned = PeftModel.from_pretrained(base, settings.adapters_dir / "house")
    tuned_answer = answer(tuned, tokenizer, DEFAULT_SYSTEM_PROMPT)
    assert tuned_answer != plain
    assert tuned_answer.startswith("Northwind") and not plain.startswith("Northwind")
    config = json.loads((settings.adapters_dir / "house" / "adapter_config.json").read_text())
    assert set(config["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }


def test_existing_adapter_is_kept_unless_overwrite(trained, make_samples):
    settings, _ = trained
    before = (settings.adapters_dir / "house" / "adapter_model.safetensors").read_bytes()
    with pytest.raises(RagtuneError, match="already exists"):
        sft(settings, make_samples(4), [], name="house")
    assert (settings.adapters_dir / "house" / "adapter_model.safetensors").read_bytes() == before


def test_resume_continues_the_step_count(tiny_settings, make_samples):
    settings = tiny_training(tiny_settings, max_steps=2, eval_steps=1)
    with pytest.raises(RagtuneError, match="no checkpoint of 'r' to resume"):
        sft(settings, make_samples(16), make_samples(4, 50), name="r", resume=True)
    first = sft(settings, make_samples(16), make_samples(4, 50), name="r")
    assert first.global_step == 2
    settings = tiny_training(tiny_settings, max_steps=4, eval_steps=1)
    second = sft(settings, make_samples(16), make_samples(4, 50), name="r", resume=True, overwrite=True)
    assert second.global_step == 4
    assert [e["step"] for e in second.log_history if "loss" in e] == [1, 2, 3, 4]


def test_dpo_step_and_merge(trained, tiny_model, tmp_path):
    settings, _ = trained
    settings = tiny_training(settings, max_steps=1, dpo_learning_rate=1e-3)
    pairs = [
        PreferencePair(prompt=QUESTION, chosen="Northwind Gadgets: yes, two years.", rejected="No idea."),
        PreferencePair(
            prompt=[{"role": "user", "content": "Is the kettle loud?"}],
            chosen="Northwind Gadgets: no.",
            rejected="Meh.",
        ),
    ]
    info = train_dpo(
        pairs,
        training=settings.training,
        folders=folders(settings),
        from_adapter="house",
        name="house-dpo",
        progress=False,
    )
    assert info.method == "dpo" and info.base_fingerprint == model_fingerprint(tiny_model)
    dpo_dir, sft_dir = settings.adapters_dir / "house-dpo", settings.adapters_dir / "house"
    dpo_weights = load_file(dpo_dir / "adapter_model.safetensors")
    sft_weights = load_file(sft_dir / "adapter_model.safetensors")
    assert dpo_weights.keys() == sft_weights.keys()  # no reference copy saved
    assert any(not torch.equal(dpo_weights[k], sft_weights[k]) for k in dpo_weights)

    merged_dir = merge_adapter(dpo_dir, tmp_path / "merged", settings.models_dir)
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    ids = tokenizer("<|im_start|>user\nIs the lamp covered?<|im_end|>\n", return_tensors="pt").input_ids
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), dpo_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():
        merged_logits, adapter_logits = merged(ids).logits, with_adapter(ids).logits
        assert torch.allclose(merged_logits, adapter_logits, atol=1e-4)
        assert not torch.allclose(merged_logits, base(ids).logits, atol=1e-3)
    with pytest.raises(RagtuneError, match="not empty"):
        merge_adapter(dpo_dir, merged_dir, settings.models_dir)
