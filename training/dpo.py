"""DPO on preference pairs through TRL, continuing an SFT adapter (the reference is a frozen copy of it)."""

import shutil
from pathlib import Path

from core.adapters import AdapterInfo, check_adapter_base, read_adapter_info
from core.chat_model import model_fingerprint, prepare_chat_model
from core.errors import RagtuneError
from core.prompt import DEFAULT_SYSTEM_PROMPT, as_text, build_prompt
from core.settings import TrainingSettings
from training.data import PreferencePair
from training.modeling import load_for_training, load_tokenizer, mixed_precision
from training.output import TrainingFolders, check_writable, data_fingerprint, save_model_folder


def train_dpo(
    pairs: list[PreferencePair],
    *,
    training: TrainingSettings,
    folders: TrainingFolders,
    from_adapter: str,
    name: str,
    system_prompt: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> AdapterInfo:
    """Adapter `name` (folders.adapters/NAME): SFT adapter `from_adapter` tuned on `pairs`, prompted with
    `system_prompt` (the server's; None: the one the SFT adapter was trained with)."""
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOTrainer

    source_dir = folders.adapters / from_adapter
    if not source_dir.exists():
        raise RagtuneError(f"{source_dir}: no adapter named '{from_adapter}' to start DPO from")
    dest = folders.adapters / name
    check_writable(dest, overwrite)
    parent = read_adapter_info(source_dir)
    model_path = prepare_chat_model(parent.base_model, folders.models)
    check_adapter_base(parent, model_fingerprint(model_path), parent.base_model)
    tokenizer = load_tokenizer(model_path)
    model = PeftModel.from_pretrained(load_for_training(model_path, "lora"), source_dir, is_trainable=True)
    system_prompt = system_prompt or parent.system_prompt or DEFAULT_SYSTEM_PROMPT
    rows = [_row(pair, tokenizer, system_prompt, training.max_seq_len) for pair in pairs]
    checkpoints = folders.checkpoints / name
    shutil.rmtree(checkpoints, ignore_errors=True)
    trainer = DPOTrainer(
        model=model,
        args=_dpo_arguments(training, checkpoints, progress),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    output = trainer.train()
    info = AdapterInfo(
        name=name,
        base_model=parent.base_model,
        base_fingerprint=parent.base_fingerprint,
        method="dpo",
        rank=parent.rank,
        data_fingerprint=data_fingerprint(pairs),
        settings={
            **parent.settings,
            "dpo_from": from_adapter,
            "dpo_beta": training.dpo_beta,
            "dpo_learning_rate": training.dpo_learning_rate,
        },
        train_loss=output.training_loss,
        system_prompt=system_prompt,
        styles=parent.styles,
    )
    if "ref" in model.peft_config:
        model.delete_adapter("ref")  # TRL's frozen reference copy is not part of the result
    save_model_folder(model, dest, overwrite, info, trainer.state.log_history)
    return info


def _dpo_arguments(cfg: TrainingSettings, checkpoints: Path, progress: bool):
    """One epoch, cosine schedule, no checkpoints kept: a short tuning of an adapter already trained."""
    from trl import DPOConfig

    return DPOConfig(
        output_dir=str(checkpoints),
        per_device_train_batch_size=min(cfg.batch_size, 4),
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.dpo_learning_rate,
        beta=cfg.dpo_beta,
        num_train_epochs=1,
        max_steps=cfg.max_steps or -1,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_ratio,
        logging_steps=cfg.logging_steps,
        save_strategy="no",
        report_to="none",
        seed=cfg.seed,
        max_length=cfg.max_seq_len,
        disable_tqdm=not progress,
        **mixed_precision(),
    )


def _row(pair: PreferencePair, tokenizer, system_prompt: str, max_len: int) -> dict:
    """The prompt exactly as the server builds it (RAG off), chosen and rejected as assistant turns."""
    prompt = build_prompt(
        pair.prompt,
        None,
        tokenizer=tokenizer,
        system_prompt=system_prompt,
        max_prompt_tokens=max(16, max_len // 2),
    ).messages
    return {
        "prompt": prompt,
        # Answers and corrections are text too: never control tokens (core.prompt.as_text).
        "chosen": [{"role": "assistant", "content": as_text(pair.chosen, tokenizer)}],
        "rejected": [{"role": "assistant", "content": as_text(pair.rejected, tokenizer)}],
    }
