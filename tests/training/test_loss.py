"""The chunked loss is transformers' causal-LM loss: same value and same gradients (LoRA, a trained output
layer, a bias) on packed rows, with or without num_items_in_batch, in Trainer and through train_sft with
micro-batches; it falls back to transformers' loss where an architecture scales its logits."""

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

from core.errors import RagtuneError
from core.prompt import DEFAULT_SYSTEM_PROMPT
from tests.training.conftest import folders, tiny_training
from training.encoding import IGNORE, PackedCollator, encode, pack
from training.loss import HIDDEN_STATES_ONLY, ChunkedLossTrainer, chunked_causal_lm_loss
from training.modeling import has_plain_output_layer, output_layer
from training.sft import _trainer_class, micro_batching, train_sft


@pytest.fixture(scope="module")
def packed_rows(tiny_model, make_samples) -> list[dict]:
    """Rows of several samples each, of different lengths (so the batch has padding too)."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    examples = []
    for sample in make_samples(5):
        example = encode(sample, None, tokenizer=tokenizer, system_prompt=DEFAULT_SYSTEM_PROMPT, max_len=128)
        examples.append({**example, "position_ids": list(range(len(example["input_ids"])))})
    rows = pack(examples, 128)
    assert len(rows) >= 2 and len({len(r["input_ids"]) for r in rows}) > 1
    return rows


@pytest.fixture
def batch(packed_rows, tiny_model) -> dict:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    return PackedCollator(tokenizer.pad_token_id)(packed_rows)


def lora_model(path: str):
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(path),
        LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM", target_modules="all-linear"),
    )
    for name, param in model.named_parameters():
        if "lora_B" in name:  # B starts at zero, which would leave A's gradient zero: nothing to compare
            torch.nn.init.normal_(param, std=0.02)
    return model


def gradients(model, loss) -> dict[str, torch.Tensor]:
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def assert_same(loss, reference, grads, reference_grads):
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    assert grads.keys() == reference_grads.keys() and grads
    for name, grad in grads.items():
        expected = reference_grads[name]  # float32 rounding, relative to the tensor's largest element
        atol = 1e-4 * expected.abs().max().item()
        torch.testing.assert_close(
            grad, expected, rtol=1e-4, atol=atol, msg=lambda m, name=name: f"{name}: {m}"
        )


@pytest.mark.parametrize("chunk_size", [5, 4096])
@pytest.mark.parametrize("num_items", [None, 300])
def test_loss_and_lora_gradients_equal_transformers_on_packed_rows(tiny_model, batch, chunk_size, num_items):
    model = lora_model(tiny_model)
    extra = {} if num_items is None else {"num_items_in_batch": torch.tensor(num_items)}
    reference = model(**batch, **extra).loss
    reference_grads = gradients(model, reference)

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = model(**inputs, **HIDDEN_STATES_ONLY).hidden_states[-1]
    loss = chunked_causal_lm_loss(
        hidden, batch["labels"], output_layer(model), chunk_size=chunk_size, num_items_in_batch=num_items
    )
    assert_same(loss, reference, gradients(model, loss), reference_grads)


def test_gradients_reach_a_trained_tied_output_layer(tiny_model, batch):
    """Full fine-tuning: the output layer is the (tied) embedding matrix and trains as well."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert output_layer(model).weight is model.get_input_embeddings().weight
    reference = model(**batch).loss
    reference_grads = gradients(model, reference)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = model(**inputs, **HIDDEN_STATES_ONLY).hidden_states[-1]
    loss = chunked_causal_lm_loss(hidden, batch["labels"], output_layer(model), chunk_size=16)
    assert_same(loss, reference, gradients(model, loss), reference_grads)


def test_output_layer_with_a_bias_and_nothing_to_learn():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50)
    hidden = torch.randn(2, 6, 8, requires_grad=True)
    labels = torch.randint(0, 50, (2, 6))
    labels[0, :3] = IGNORE
    params = {"hidden": hidden, "weight": head.weight, "bias": head.bias}

    loss = chunked_causal_lm_loss(hidden, labels, head, chunk_size=3)
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
    targets = F.pad(labels, (0, 1), value=IGNORE)[:, 1:]
    reference = F.cross_entropy(head(hidden).flatten(0, 1), targets.flatten())
    reference_grads = dict(zip(params, torch.autograd.grad(reference, list(params.values()))))
    assert_same(loss, reference, grads, reference_grads)

    nothing = torch.full_like(labels, IGNORE)
    empty = chunked_causal_lm_loss(hidden, nothing, head, chunk_size=3)
    assert empty.item() == 0.0
    empty.backward()
    assert not hidden.grad.any()


def test_trainer_computes_the_same_training_and_evaluation_loss(tiny_model, batch, packed_rows, tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", per_device_eval_batch_size=2)
    data = Dataset.from_list(packed_rows)
    collator = PackedCollator(AutoTokenizer.from_pretrained(tiny_model).pad_token_id)
    results = []
    for make in (Trainer, lambda **kw: ChunkedLossTrainer(chunk_size=7, **kw)):
        model = lora_model(tiny_model)
        trainer = make(model=model, args=args, eval_dataset=data, data_collator=collator)
        loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(250))
        results.append((loss, gradients(model, loss), trainer.evaluate()["eval_loss"]))
    (reference, reference_grads, reference_eval), (loss, grads, eval_loss) = results
    assert_same(loss, reference, grads, reference_grads)
    assert eval_loss == pytest.approx(reference_eval, rel=1e-5)


def test_train_sft_step_is_the_same_in_micro_batches_and_with_chunked_loss(tiny_settings, make_samples):
    """One optimizer step: the same loss and gradient norm whether the batch of 4 packed rows runs whole
    through transformers' loss (as before) or a row at a time through the chunked loss."""
    logs = []
    for name, extra in {
        "whole": {"micro_batch_size": 4, "chunked_loss": False},
        "rows": {"micro_batch_size": 1, "chunked_loss": True, "loss_chunk_size": 16},
    }.items():
        settings = tiny_training(tiny_settings, max_steps=1, lora_dropout=0.0, **extra)
        result = train_sft(
            make_samples(16),
            [],
            training=settings.training,
            folders=folders(settings),
            name=name,
            base_model=settings.chat_model,
            progress=False,
        )
        logs.append(next(e for e in result.log_history if "loss" in e))
    assert logs[1]["loss"] == pytest.approx(logs[0]["loss"], rel=1e-4)
    assert logs[1]["grad_norm"] == pytest.approx(logs[0]["grad_norm"], rel=1e-4)


def test_micro_batching_and_the_switch(tiny_settings, tiny_model):
    cfg = tiny_settings.training.model_copy(update={"batch_size": 8, "grad_accum": 2})
    expected = 8 if torch.cuda.is_available() else 1
    assert micro_batching(cfg)["per_device_train_batch_size"] == expected
    assert micro_batching(cfg.model_copy(update={"micro_batch_size": 2})) == {
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 8,
    }
    with pytest.raises(RagtuneError, match="must divide"):
        micro_batching(cfg.model_copy(update={"micro_batch_size": 3}))

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert _trainer_class(model, cfg).func is ChunkedLossTrainer
    assert _trainer_class(model, cfg.model_copy(update={"chunked_loss": False})) is Trainer
    model.config.model_type = "gemma2"  # softcapped logits: transformers' own loss
    assert not has_plain_output_layer(model) and _trainer_class(model, cfg) is Trainer
