"""Supervised fine-tuning with PEFT LoRA on any causal LM, through Hugging Face Trainer (so accelerate
launch / torchrun give multi-GPU with no code of ours). Loss on assistant tokens only; packed rows."""

import math
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from core.adapters import AdapterInfo
from core.chat_model import model_fingerprint, prepare_chat_model
from core.errors import RagtuneError
from core.prompt import DEFAULT_SYSTEM_PROMPT, PROMPT_FORMAT
from core.settings import TrainingSettings
from retrieval.evidence import IdfLookup
from retrieval.excerpts import fit_sources, token_counter
from training.data import Conversation
from training.encoding import PackedCollator, encode, pack
from training.modeling import (
    has_plain_output_layer,
    load_for_training,
    load_tokenizer,
    mixed_precision,
    target_modules,
)
from training.output import check_writable, data_fingerprint, save_model_folder
from training.raft import with_sources


@dataclass
class SftResult:
    output_dir: Path
    info: AdapterInfo | None
    global_step: int
    tokens_per_epoch: int  # real (unpadded) tokens in the training set
    train_runtime: float
    skipped_too_long: int
    log_history: list[dict] = field(default_factory=list)
    raft_counts: Counter = field(default_factory=Counter)  # training samples: with_gold, declined, no_gold


def train_sft(
    train: list[Conversation],
    val: list[Conversation],
    *,
    settings,
    name: str,
    base: str | None = None,
    retrieve: Callable[[list[dict]], list] | None = None,
    idf: IdfLookup | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> SftResult:
    """Train adapter `name` (settings.adapters_dir/NAME) on train, early-stopping on val. With `retrieve`
    (e.g. KnowledgeBase.search) samples are built retrieval-aware (RAFT), their sources fitted as the server
    fits them (retrieval/excerpts.py, weighing terms by `idf`: KnowledgeBase.idf). resume=True continues the last
    checkpoint of a run with the same name."""
    from transformers import EarlyStoppingCallback, TrainingArguments, set_seed

    cfg: TrainingSettings = settings.training
    base_name = base or settings.chat_model
    full = cfg.finetune == "full"
    dest = (settings.models_dir if full else settings.adapters_dir) / name
    check_writable(dest, overwrite)
    checkpoints = settings.home / "checkpoints" / name
    if resume and not any(checkpoints.glob("checkpoint-*")):
        raise RagtuneError(f"{checkpoints}: no checkpoint of '{name}' to resume from")
    if not resume:
        shutil.rmtree(checkpoints, ignore_errors=True)  # a fresh run does not mix with an older one's steps
    set_seed(cfg.seed)
    model_path = prepare_chat_model(base_name, settings.models_dir)
    tokenizer = load_tokenizer(model_path)
    system_prompt = settings.server.system_prompt or DEFAULT_SYSTEM_PROMPT

    fit = partial(fit_sources, settings=settings.retrieval, count_tokens=token_counter(tokenizer), idf=idf)
    train_rows, tokens, skipped, raft_counts = _rows(
        train, tokenizer, settings, system_prompt, retrieve, fit, progress, "train"
    )
    val_rows, _, skipped_val, _ = _rows(
        val, tokenizer, settings, system_prompt, retrieve, fit, progress, "validation"
    )
    if not train_rows:
        raise RagtuneError(f"no training sample fits in max_seq_len={cfg.max_seq_len} tokens")

    model = load_for_training(model_path, cfg.finetune)
    if not full:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=cfg.lora_r,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                task_type="CAUSAL_LM",
                target_modules=target_modules(model, cfg.target_modules),
            ),
        )
    steps_per_epoch = math.ceil(len(train_rows) / (cfg.batch_size * cfg.grad_accum))
    total_steps = cfg.max_steps or math.ceil(steps_per_epoch * cfg.epochs)
    eval_steps = cfg.eval_steps or max(1, total_steps // 5)
    args = TrainingArguments(
        output_dir=str(checkpoints),
        **micro_batching(cfg),
        per_device_eval_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_ratio,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if val_rows else "no",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=2,
        load_best_model_at_end=bool(val_rows),
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to="none",
        disable_tqdm=not progress,
        remove_unused_columns=False,
        train_sampling_strategy="random" if cfg.packing else "group_by_length",
        **mixed_precision(),
    )
    from datasets import Dataset

    trainer = _trainer_class(model, cfg)(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
        data_collator=PackedCollator(tokenizer.pad_token_id),
        callbacks=[EarlyStoppingCallback(cfg.early_stopping_patience)] if val_rows else [],
    )
    output = trainer.train(resume_from_checkpoint=True if resume else None)
    val_loss = trainer.evaluate()["eval_loss"] if val_rows else None
    info = (
        None
        if full
        else AdapterInfo(
            name=name,
            base_model=base_name,
            base_fingerprint=model_fingerprint(model_path),
            prompt_format=PROMPT_FORMAT,
            system_prompt=system_prompt,
            method="raft" if retrieve else "sft",
            rank=cfg.lora_r,
            data_fingerprint=data_fingerprint(train, val),
            settings={
                **cfg.model_dump(),
                "target_modules": sorted(model.peft_config["default"].target_modules),
            },
            train_loss=output.training_loss,
            validation_loss=val_loss,
            perplexity=math.exp(val_loss) if val_loss is not None else None,
            styles=sorted({s.style for s in train if s.style}),
        )
    )
    history = trainer.state.log_history
    save_model_folder(model, dest, overwrite, info, history, tokenizer=tokenizer if full else None)
    return SftResult(
        dest,
        info,
        trainer.state.global_step,
        tokens,
        output.metrics["train_runtime"],
        skipped + skipped_val,
        history,
        raft_counts,
    )


def micro_batching(cfg: TrainingSettings) -> dict:
    """Rows per forward pass and passes per optimizer step: batch_size * grad_accum rows a step either way.
    Trainer divides the loss by the label tokens of the whole step, so the gradient is the same."""
    micro = cfg.micro_batch_size or (cfg.batch_size if torch.cuda.is_available() else 1)
    if cfg.batch_size % micro:
        raise RagtuneError(
            f"training.micro_batch_size={micro} must divide training.batch_size={cfg.batch_size}"
        )
    return {
        "per_device_train_batch_size": micro,
        "gradient_accumulation_steps": cfg.grad_accum * cfg.batch_size // micro,
    }


def _trainer_class(model, cfg: TrainingSettings):
    """Trainer, or with chunked_loss (on architectures it applies to) one whose loss never holds the logits."""
    from transformers import Trainer

    if not (cfg.chunked_loss and has_plain_output_layer(model)):
        return Trainer
    from training.loss import ChunkedLossTrainer

    return partial(ChunkedLossTrainer, chunk_size=cfg.loss_chunk_size)


def _rows(
    samples, tokenizer, settings, system_prompt, retrieve, fit, progress, label
) -> tuple[list, int, int, Counter]:
    """Encoded samples (packed when packing is on), their real token count, how many did not fit, and (with
    retrieval) how many got their gold source, were taught to decline, or had no gold source retrieved.
    Retrieval-aware samples get as many sources as the server gives a request (retrieval.top_k), cut by `fit`."""
    cfg = settings.training
    pairs, counts = (
        with_sources(
            samples,
            retrieve,
            k=settings.retrieval.top_k,
            decline_share=cfg.raft_decline_share,
            seed=cfg.seed,
            declines=cfg.raft_decline_answers,
            fit=fit,
        )
        if retrieve
        else ([(s, None) for s in samples], Counter())
    )
    examples, skipped = [], 0
    for sample, sources in tqdm(pairs, desc=f"tokenizing {label}", disable=not progress or not pairs):
        example = encode(
            sample, sources, tokenizer=tokenizer, system_prompt=system_prompt, max_len=cfg.max_seq_len
        )
        if example is None:
            skipped += 1
        else:
            examples.append({**example, "position_ids": list(range(len(example["input_ids"])))})
    tokens = sum(len(e["input_ids"]) for e in examples)
    return (pack(examples, cfg.max_seq_len) if cfg.packing else examples), tokens, skipped, counts
