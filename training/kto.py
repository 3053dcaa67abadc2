"""KTO on rated answers (thumbs up or down, no pairs) through TRL, from an adapter (the reference is a frozen
copy of it) or from the base model (a new LoRA adapter; the reference is the base). Each prompt is built by
the prompt contract as the server built it: with the sources, system prompt and style tag the record names
(the feedback export writes them), else the starting adapter's system prompt and no sources."""

from dataclasses import dataclass
from pathlib import Path

from core.adapters import AdapterInfo
from core.chat_model import model_fingerprint, prepare_chat_model
from core.errors import RagtuneError
from core.prompt import DEFAULT_SYSTEM_PROMPT, PROMPT_FORMAT
from core.settings import TrainingSettings
from training.arguments import preference_arguments
from training.data import KtoExample
from training.encoding import assistant_turn, served_prompt
from training.modeling import load_for_training, load_tokenizer, target_modules
from training.output import (
    TrainingFolders,
    check_writable,
    checkpoint_folder,
    data_fingerprint,
    prepared_base,
    save_tuned_adapter,
    starting_adapter,
)


@dataclass(frozen=True)
class KtoWeights:
    """TRL's desirable and undesirable weights, set so that the weighted counts of good and bad answers are
    level (the KTO paper's advice for unequal counts): the rarer label's answers weigh more."""

    desirable: float
    undesirable: float

    @classmethod
    def balanced(cls, examples: list[KtoExample]) -> "KtoWeights":
        good = sum(e.label for e in examples)
        bad = len(examples) - good
        if not good or not bad:
            raise RagtuneError(
                f"KTO needs answers rated good and answers rated bad; the data has {good} good and {bad} bad"
            )
        return cls(desirable=max(1.0, bad / good), undesirable=max(1.0, good / bad))


def train_kto(
    examples: list[KtoExample],
    *,
    training: TrainingSettings,
    folders: TrainingFolders,
    name: str,
    from_adapter: str | None = None,
    base_model: str | None = None,
    system_prompt: str | None = None,
    learning_rate: float | None = None,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: tuple = (),  # more Trainer callbacks (training.progress.ProgressLines: progress for a log)
) -> AdapterInfo:
    """Adapter `name` (folders.adapters/NAME) tuned by KTO on `examples`, from adapter `from_adapter` or
    else a new LoRA adapter of `base_model`. Prompts without a system prompt of their own get
    `system_prompt` (the server's; None: the starting adapter's, else the built-in one)."""
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from transformers import set_seed
    from trl import KTOTrainer

    dest = folders.adapters / name
    check_writable(dest, overwrite)
    set_seed(training.seed)
    parent = starting_adapter(folders, from_adapter, "KTO") if from_adapter else None
    base = parent.base_model if parent else base_model
    if base is None:
        raise RagtuneError("KTO needs an adapter to start from or a base model")
    model_path = prepared_base(parent, folders) if parent else prepare_chat_model(base, folders.models)
    fingerprint = model_fingerprint(model_path)
    tokenizer = load_tokenizer(model_path)
    model = load_for_training(model_path, "lora")
    peft_config = None
    if parent:
        model = PeftModel.from_pretrained(model, folders.adapters / from_adapter, is_trainable=True)
    else:
        peft_config = LoraConfig(
            r=training.lora_r,
            lora_alpha=training.lora_alpha,
            lora_dropout=training.lora_dropout,
            task_type="CAUSAL_LM",
            target_modules=target_modules(model, training.target_modules),
        )
    system_prompt = system_prompt or (parent.system_prompt if parent else None) or DEFAULT_SYSTEM_PROMPT
    rows = [kto_row(e, tokenizer, system_prompt, training.max_seq_len) for e in examples]
    weights = KtoWeights.balanced(examples)
    rate = learning_rate or training.dpo_learning_rate
    checkpoints = checkpoint_folder(folders, name)
    trainer = KTOTrainer(
        model=model,
        args=_kto_arguments(training, checkpoints, progress, weights, rate),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )
    output = trainer.train()
    model = trainer.model
    info = AdapterInfo(
        name=name,
        base_model=base,
        base_fingerprint=fingerprint,
        prompt_format=PROMPT_FORMAT,
        method="kto",
        rank=parent.rank if parent else training.lora_r,
        data_fingerprint=data_fingerprint(examples),
        settings={
            **(parent.settings if parent else training.model_dump()),
            "kto_from": from_adapter,
            "kto_beta": training.dpo_beta,
            "kto_learning_rate": rate,
            "kto_desirable_weight": weights.desirable,
            "kto_undesirable_weight": weights.undesirable,
            "kto_max_seq_len": training.max_seq_len,
        },
        train_loss=output.training_loss,
        system_prompt=system_prompt,
        styles=sorted({*(parent.styles if parent else []), *(e.style for e in examples if e.style)}),
    )
    save_tuned_adapter(model, dest, overwrite, info, trainer.state.log_history)
    return info


def kto_row(example: KtoExample, tokenizer, system_prompt: str, max_len: int) -> dict:
    """TRL's conversational KTO row: the prompt exactly as the server builds it, the answer as an assistant
    turn, and its label."""
    return {
        "prompt": served_prompt(example, tokenizer, system_prompt, max_len),
        "completion": assistant_turn(example.completion, tokenizer),
        "label": example.label,
    }


def _kto_arguments(
    cfg: TrainingSettings, checkpoints: Path, progress: bool, weights: KtoWeights, rate: float
):
    """One epoch, cosine schedule, no checkpoints kept, like DPO. KTO estimates its KL term from the other
    answers of a batch, so a batch holds at least two; no gradient checkpointing (SFT uses none either)."""
    from trl import KTOConfig

    return KTOConfig(
        **preference_arguments(cfg, checkpoints, progress),
        per_device_train_batch_size=max(2, min(cfg.batch_size, 4)),
        learning_rate=rate,
        beta=cfg.dpo_beta,
        desirable_weight=weights.desirable,
        undesirable_weight=weights.undesirable,
        num_train_epochs=1,
        gradient_checkpointing=False,
    )
