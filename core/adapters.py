"""Adapters on disk: RAGTUNE_HOME/adapters/NAME/ holds PEFT files (vLLM loads them directly) and
ragtune_adapter.json, which records what the adapter was trained on and with which prompt format."""

import json
import os
from pathlib import Path

from pydantic import BaseModel

from core.errors import NotFoundError, RagtuneError
from core.prompt import PROMPT_FORMAT

METADATA_FILE = "ragtune_adapter.json"
METADATA_VERSION = 2  # 2: the system prompt trained with is a field of its own


class AdapterInfo(BaseModel):
    name: str
    base_model: str
    base_fingerprint: str
    metadata_version: int = METADATA_VERSION
    prompt_format: str = PROMPT_FORMAT
    system_prompt: str | None = None  # what it was trained with; the server serves it with the adapter
    method: str = "sft"  # sft | dpo | raft
    rank: int = 16
    data_fingerprint: str = ""
    settings: dict = {}
    train_loss: float | None = None
    validation_loss: float | None = None
    perplexity: float | None = None
    styles: list[str] = []  # style tags trained into the system prompt ("Style: NAME")
    style: str | None = None  # trained for this style alone, without tags (`train sft --per-style`)
    created: str = ""


def write_adapter_info(adapter_dir: Path, info: AdapterInfo) -> None:
    tmp = adapter_dir / (METADATA_FILE + ".tmp")
    tmp.write_text(info.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, adapter_dir / METADATA_FILE)


def read_adapter_info(adapter_dir: Path) -> AdapterInfo:
    meta = adapter_dir / METADATA_FILE
    if not adapter_dir.is_dir():
        raise NotFoundError(f"adapter '{adapter_dir.name}': no such adapter folder in {adapter_dir.parent}")
    if not (adapter_dir / "adapter_config.json").exists():
        raise RagtuneError(f"{adapter_dir}: not a PEFT adapter folder (adapter_config.json missing)")
    if not meta.exists():
        raise RagtuneError(f"{meta}: missing; ragtune needs it to know the adapter's base model")
    try:
        raw = json.loads(meta.read_text(encoding="utf-8"))
        info = AdapterInfo.model_validate(raw)
    except (ValueError, json.JSONDecodeError) as err:
        raise RagtuneError(f"{meta}: not valid adapter metadata: {err}") from err
    if info.metadata_version > METADATA_VERSION:
        raise RagtuneError(f"{meta}: metadata version {info.metadata_version} is newer than this ragtune's")
    if info.system_prompt is None and raw.get("metadata_version", 1) == 1:  # version 1 kept it in settings
        info.system_prompt = info.settings.get("system_prompt")
    return info


def list_adapters(adapters_dir: Path) -> list[AdapterInfo]:
    if not adapters_dir.exists():
        return []
    return [read_adapter_info(d) for d in sorted(adapters_dir.iterdir()) if (d / METADATA_FILE).exists()]


def check_adapter_base(info: AdapterInfo, base_fingerprint: str, base_model: str) -> None:
    """Refuse an adapter trained on another base model, saying which."""
    if info.base_fingerprint != base_fingerprint:
        raise RagtuneError(
            f"adapter '{info.name}' was trained on base model '{info.base_model}' "
            f"(fingerprint {info.base_fingerprint}), not on the served '{base_model}' ({base_fingerprint})"
        )
    if info.prompt_format != PROMPT_FORMAT:
        raise RagtuneError(
            f"adapter '{info.name}' uses prompt format '{info.prompt_format}'; this ragtune builds '{PROMPT_FORMAT}'"
        )
