"""Merge an adapter into its base model: a plain model folder (weights + tokenizer) vLLM can serve."""

from pathlib import Path

from core.adapters import check_adapter_base, read_adapter_info
from core.chat_model import model_fingerprint, prepare_chat_model
from core.errors import RagtuneError
from training.modeling import load_tokenizer
from training.output import save_model_folder


def merge_adapter(adapter_dir: Path, out: Path, models_dir: Path) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    info = read_adapter_info(adapter_dir)
    model_path = prepare_chat_model(info.base_model, models_dir)
    check_adapter_base(info, model_fingerprint(model_path), info.base_model)
    if out.exists() and any(out.iterdir()):
        raise RagtuneError(f"{out}: exists and is not empty; merge into a new folder")
    if out.exists():
        out.rmdir()
    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    return save_model_folder(merged, out, False, None, [], tokenizer=load_tokenizer(model_path))
