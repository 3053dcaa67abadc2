"""Where a training run reads and writes: the adapter it continues, its checkpoint folder, and the trained
adapter: PEFT files, ragtune_adapter.json, a loss-curve PNG and after RL a reward curve, swapped in atomically
so a reader (the server) never sees a half-written adapter and a failed run never loses the old one."""

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.adapters import AdapterInfo, check_adapter_base, read_adapter_info, write_adapter_info
from core.chat_model import model_fingerprint, prepare_chat_model
from core.errors import RagtuneError

LOSS_CURVE = "loss_curve.png"
REWARD_CURVE = "reward_curve.png"


@dataclass(frozen=True)
class TrainingFolders:
    """Where training finds base models and writes its results (Settings: models_dir, adapters_dir and
    home / "checkpoints")."""

    models: Path  # base models are prepared here; a full fine-tune is written here
    adapters: Path
    checkpoints: Path  # a run's Trainer checkpoints, in a folder named after the run


def starting_adapter(folders: TrainingFolders, name: str, method: str) -> AdapterInfo:
    """Adapter `name`, which a `method` run (DPO, KTO, RL) continues; an error saying so when there is none."""
    source = folders.adapters / name
    if not source.exists():
        raise RagtuneError(f"{source}: no adapter named '{name}' to start {method} from")
    return read_adapter_info(source)


def prepared_base(parent: AdapterInfo, folders: TrainingFolders) -> Path:
    """The base model `parent` was trained on, prepared in folders.models; an error when the model of that
    name is another one now."""
    model_path = prepare_chat_model(parent.base_model, folders.models)
    check_adapter_base(parent, model_fingerprint(model_path), parent.base_model)
    return model_path


def checkpoint_folder(folders: TrainingFolders, name: str, resume: bool = False) -> Path:
    """Run `name`'s checkpoint folder: kept to resume from, otherwise emptied so a fresh run does not mix with
    an older one's steps."""
    checkpoints = folders.checkpoints / name
    if resume and not any(checkpoints.glob("checkpoint-*")):
        raise RagtuneError(f"{checkpoints}: no checkpoint of '{name}' to resume from")
    if not resume:
        shutil.rmtree(checkpoints, ignore_errors=True)
    return checkpoints


def check_writable(dest: Path, overwrite: bool) -> None:
    if dest.exists() and not overwrite:
        raise RagtuneError(f"{dest}: already exists; choose another name or pass --overwrite")


def data_fingerprint(*sample_lists) -> str:
    digest = hashlib.sha256()
    for samples in sample_lists:
        for sample in samples:
            record = sample.__dict__ if hasattr(sample, "__dict__") else sample
            digest.update(json.dumps(record, ensure_ascii=False, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def save_model_folder(
    model, dest: Path, overwrite: bool, info: AdapterInfo | None, log_history: list[dict], tokenizer=None
) -> Path:
    """Save to a temp folder beside dest, then swap it in."""
    check_writable(dest, overwrite)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    if info is not None:
        info.created = datetime.now(UTC).isoformat(timespec="seconds")
        write_adapter_info(tmp, info)
    if log_history:
        plot_curve(
            log_history, tmp / LOSS_CURVE, dest.name, "loss", {"loss": "train", "eval_loss": "validation"}
        )
    if any("reward" in entry for entry in log_history):  # online RL (training/rl.py)
        plot_curve(log_history, tmp / REWARD_CURVE, dest.name, "reward", {"reward": "mean reward"})
    old = dest.with_name(f".{dest.name}.old{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def save_tuned_adapter(
    model, dest: Path, overwrite: bool, info: AdapterInfo, log_history: list[dict]
) -> None:
    """save_model_folder for an adapter tuned against a frozen reference copy of itself (TRL's "ref" adapter
    in DPO, KTO and RL with a KL term): that copy is not part of the result."""
    if "ref" in model.peft_config:
        model.delete_adapter("ref")
    save_model_folder(model, dest, overwrite, info, log_history)


def plot_curve(log_history: list[dict], out: Path, title: str, ylabel: str, series: dict[str, str]) -> None:
    """The logged values of each `series` key (its label as the legend) against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    for key, label in series.items():
        points = [(e["step"], e[key]) for e in log_history if key in e]
        if points:
            axes.plot(*zip(*points), marker="o" if key == "eval_loss" else None, label=label)
    axes.set(xlabel="step", ylabel=ylabel, title=title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
