"""Supervised fine-tuning with PEFT LoRA on any causal LM, through Hugging Face Trainer (so accelerate
launch / torchrun give multi-GPU with no code of ours). Loss on assistant tokens only; packed rows.

`train_sft` reads top to bottom: where the result goes, the base model and tokenizer, the encoded data
(retrieval-aware with a RaftRetriever), the model with LoRA, the trainer, training, the adapter's metadata."""

import math
from collections import Counter
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
from training.arguments import run_arguments
from training.data import Conversation
from training.encoding import PackedCollator, encode, pack
from training.modeling import (
    has_plain_output_layer,
    load_for_training,
    load_tokenizer,
    target_modules,
)
from training.output import (
    TrainingFolders,
    check_writable,
    checkpoint_folder,
    data_fingerprint,
    save_model_folder,
)
from training.raft import RaftRetriever, with_sources


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


@dataclass
class EncodedSamples:
    rows: list[dict]  # packed when packing is on
    tokens: int  # real (unpadded) tokens
    skipped: int  # samples longer than max_seq_len, left out
    raft_counts: Counter  # with retrieval: with_gold, declined, no_gold


def train_sft(
    train: list[Conversation],
    val: list[Conversation],
    *,
    training: TrainingSettings,
    folders: TrainingFolders,
    name: str,
    base_model: str,
    system_prompt: str | None = None,
    retriever: RaftRetriever | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: tuple = (),  # more Trainer callbacks (training.progress.ProgressLines: progress for a log)
) -> SftResult:
    """Train adapter `name` (folders.adapters/NAME; a full fine-tune: folders.models/NAME) of `base_model` on
    train, early-stopping on val, for serving with `system_prompt` (the server's; None: the built-in one).
    With `retriever` samples are built retrieval-aware (RAFT): the sources the server would retrieve, fitted
    as it fits them. resume=True continues the last checkpoint of a run with the same name."""
    from transformers import set_seed

    full = training.finetune == "full"
    dest = (folders.models if full else folders.adapters) / name
    check_writable(dest, overwrite)
    checkpoints = checkpoint_folder(folders, name, resume)
    set_seed(training.seed)
    model_path = prepare_chat_model(base_model, folders.models)
    tokenizer = load_tokenizer(model_path)
    system_prompt = system_prompt or DEFAULT_SYSTEM_PROMPT

    encode_set = partial(
        _encode_samples,
        tokenizer=tokenizer,
        cfg=training,
        system_prompt=system_prompt,
        retriever=retriever,
        progress=progress,
    )
    train_set, val_set = encode_set(train, label="train"), encode_set(val, label="validation")
    if not train_set.rows:
        raise RagtuneError(f"no training sample fits in max_seq_len={training.max_seq_len} tokens")

    model = _model_with_lora(model_path, training)
    trainer = _trainer(model, tokenizer, training, train_set.rows, val_set.rows, checkpoints, progress)
    for callback in callbacks:
        trainer.add_callback(callback)
    output = trainer.train(resume_from_checkpoint=True if resume else None)
    val_loss = trainer.evaluate()["eval_loss"] if val_set.rows else None

    info = (
        None
        if full
        else _adapter_info(
            name,
            base_model=base_model,
            model_path=model_path,
            system_prompt=system_prompt,
            method="raft" if retriever else "sft",
            cfg=training,
            model=model,
            samples=(train, val),
            train_loss=output.training_loss,
            val_loss=val_loss,
        )
    )
    history = trainer.state.log_history
    save_model_folder(model, dest, overwrite, info, history, tokenizer=tokenizer if full else None)
    return SftResult(
        output_dir=dest,
        info=info,
        global_step=trainer.state.global_step,
        tokens_per_epoch=train_set.tokens,
        train_runtime=output.metrics["train_runtime"],
        skipped_too_long=train_set.skipped + val_set.skipped,
        log_history=history,
        raft_counts=train_set.raft_counts,
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


def _encode_samples(
    samples: list[Conversation],
    *,
    tokenizer,
    cfg: TrainingSettings,
    system_prompt: str,
    retriever: RaftRetriever | None,
    progress: bool,
    label: str,
) -> EncodedSamples:
    """Samples with their sources (with a retriever: as many as the server gives a request, retrieval.top_k,
    cut as it cuts them), encoded, and packed when packing is on."""
    if retriever:
        pairs, counts = with_sources(
            samples,
            retriever,
            k=retriever.retrieval.top_k,
            decline_share=cfg.raft_decline_share,
            seed=cfg.seed,
            declines=cfg.raft_decline_answers,
            fit=retriever.fitter(tokenizer),
        )
    else:
        pairs, counts = [(s, None) for s in samples], Counter()
    examples, skipped = [], 0
    for sample, sources in tqdm(pairs, desc=f"tokenizing {label}", disable=not progress or not pairs):
        example = encode(
            sample, sources, tokenizer=tokenizer, system_prompt=system_prompt, max_len=cfg.max_seq_len
        )
        if example is None:
            skipped += 1
        else:
            examples.append({**example, "position_ids": list(range(len(example["input_ids"])))})
    return EncodedSamples(
        rows=pack(examples, cfg.max_seq_len) if cfg.packing else examples,
        tokens=sum(len(e["input_ids"]) for e in examples),
        skipped=skipped,
        raft_counts=counts,
    )


def _model_with_lora(model_path: Path, cfg: TrainingSettings):
    """The base model to train: with LoRA adapters on its target modules, or whole for a full fine-tune."""
    model = load_for_training(model_path, cfg.finetune)
    if cfg.finetune == "full":
        return model
    from peft import LoraConfig, get_peft_model

    return get_peft_model(
        model,
        LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            task_type="CAUSAL_LM",
            target_modules=target_modules(model, cfg.target_modules),
        ),
    )


def _trainer(
    model,
    tokenizer,
    cfg: TrainingSettings,
    train_rows: list[dict],
    val_rows: list[dict],
    checkpoints: Path,
    progress: bool,
):
    """The Trainer: cosine schedule, evaluation and checkpoints about five times a run, the best checkpoint
    by validation loss kept, early stopping (without validation rows: none of these)."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback, TrainingArguments

    steps_per_epoch = math.ceil(len(train_rows) / (cfg.batch_size * cfg.grad_accum))
    total_steps = cfg.max_steps or math.ceil(steps_per_epoch * cfg.epochs)
    eval_steps = cfg.eval_steps or max(1, total_steps // 5)
    args = TrainingArguments(
        **run_arguments(cfg, checkpoints, progress),
        **micro_batching(cfg),
        per_device_eval_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_ratio,
        num_train_epochs=cfg.epochs,
        eval_strategy="steps" if val_rows else "no",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=2,
        load_best_model_at_end=bool(val_rows),
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        data_seed=cfg.seed,
        remove_unused_columns=False,
        train_sampling_strategy="random" if cfg.packing else "group_by_length",
    )
    return _trainer_class(model, cfg)(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
        data_collator=PackedCollator(tokenizer.pad_token_id),
        callbacks=[EarlyStoppingCallback(cfg.early_stopping_patience)] if val_rows else [],
    )


def _adapter_info(
    name: str,
    *,
    base_model: str,
    model_path: Path,
    system_prompt: str,
    method: str,
    cfg: TrainingSettings,
    model,
    samples: tuple[list[Conversation], list[Conversation]],
    train_loss: float,
    val_loss: float | None,
) -> AdapterInfo:
    """What the server checks before serving the adapter (base model, prompt format and system prompt) and
    what `ragtune adapters list` shows of it."""
    train, _ = samples
    return AdapterInfo(
        name=name,
        base_model=base_model,
        base_fingerprint=model_fingerprint(model_path),
        prompt_format=PROMPT_FORMAT,
        system_prompt=system_prompt,
        method=method,
        rank=cfg.lora_r,
        data_fingerprint=data_fingerprint(*samples),
        settings={**cfg.model_dump(), "target_modules": sorted(model.peft_config["default"].target_modules)},
        train_loss=train_loss,
        validation_loss=val_loss,
        perplexity=math.exp(val_loss) if val_loss is not None else None,
        styles=sorted({s.style for s in train if s.style}),
    )


def _trainer_class(model, cfg: TrainingSettings):
    """Trainer, or with chunked_loss (on architectures it applies to) one whose loss never holds the
    logits."""
    from transformers import Trainer

    if not (cfg.chunked_loss and has_plain_output_layer(model)):
        return Trainer
    from training.loss import ChunkedLossTrainer

    return partial(ChunkedLossTrainer, chunk_size=cfg.loss_chunk_size)
