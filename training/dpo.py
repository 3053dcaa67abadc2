"""DPO on preference pairs through TRL, continuing an SFT adapter (the reference is a frozen copy of it). Each
prompt is built by the prompt contract as the server built it: with the sources, system prompt and style tag
the pair names, else the SFT adapter's system prompt and no sources."""

from pathlib import Path

from core.adapters import AdapterInfo
from core.prompt import DEFAULT_SYSTEM_PROMPT
from core.settings import TrainingSettings
from training.arguments import preference_arguments
from training.data import PreferencePair
from training.encoding import preference_row
from training.modeling import load_for_training, load_tokenizer
from training.output import (
    TrainingFolders,
    check_writable,
    checkpoint_folder,
    data_fingerprint,
    prepared_base,
    save_tuned_adapter,
    starting_adapter,
)


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
    """Adapter `name` (folders.adapters/NAME): SFT adapter `from_adapter` tuned on `pairs`. Pairs without a
    system prompt of their own get `system_prompt` (the server's; None: the one the SFT adapter was trained
    with)."""
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOTrainer

    parent = starting_adapter(folders, from_adapter, "DPO")
    dest = folders.adapters / name
    check_writable(dest, overwrite)
    model_path = prepared_base(parent, folders)
    tokenizer = load_tokenizer(model_path)
    source_dir = folders.adapters / from_adapter
    model = PeftModel.from_pretrained(load_for_training(model_path, "lora"), source_dir, is_trainable=True)
    system_prompt = system_prompt or parent.system_prompt or DEFAULT_SYSTEM_PROMPT
    rows = [dpo_row(pair, tokenizer, system_prompt, training.max_seq_len) for pair in pairs]
    checkpoints = checkpoint_folder(folders, name)
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
        styles=sorted({*parent.styles, *(pair.style for pair in pairs if pair.style)}),
    )
    save_tuned_adapter(model, dest, overwrite, info, trainer.state.log_history)
    return info


def dpo_row(pair: PreferencePair, tokenizer, system_prompt: str, max_len: int) -> dict:
    """TRL's conversational pair (training.encoding.preference_row: the prompt as the server built it) with
    the prompt within half of max_len, so that both answers keep room after it."""
    return preference_row(pair, tokenizer, system_prompt, max(16, max_len // 2))


def _dpo_arguments(cfg: TrainingSettings, checkpoints: Path, progress: bool):
    """One epoch, cosine schedule, no checkpoints kept: a short tuning of an adapter already trained."""
    from trl import DPOConfig

    return DPOConfig(
        **preference_arguments(cfg, checkpoints, progress),
        per_device_train_batch_size=min(cfg.batch_size, 4),
        learning_rate=cfg.dpo_learning_rate,
        beta=cfg.dpo_beta,
        num_train_epochs=1,
    )
