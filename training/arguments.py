"""The trainer arguments the training methods share: SFT's transformers Trainer and TRL's DPO, KTO, reward and
RL trainers all take transformers' TrainingArguments fields, and these are set alike for each of them."""

from pathlib import Path

from core.settings import TrainingSettings
from training.modeling import mixed_precision


def run_arguments(cfg: TrainingSettings, checkpoints: Path, progress: bool) -> dict:
    """Checkpoints under `checkpoints`, training.max_steps (unset: the epochs decide), training.logging_steps,
    training.seed, a progress bar or not, the precision the hardware has, and no reporting service."""
    return {
        "output_dir": str(checkpoints),
        "max_steps": cfg.max_steps or -1,
        "logging_steps": cfg.logging_steps,
        "seed": cfg.seed,
        "report_to": "none",
        "disable_tqdm": not progress,
        **mixed_precision(),
    }


def preference_arguments(cfg: TrainingSettings, checkpoints: Path, progress: bool) -> dict:
    """DPO, KTO and the reward model besides the run's arguments: a cosine schedule after training's warmup,
    training.grad_accum, no checkpoints kept (a short run), sequences cut at training.max_seq_len."""
    return {
        **run_arguments(cfg, checkpoints, progress),
        "gradient_accumulation_steps": cfg.grad_accum,
        "lr_scheduler_type": "cosine",
        "warmup_steps": cfg.warmup_ratio,
        "save_strategy": "no",
        "max_length": cfg.max_seq_len,
    }
