"""The number format a model runs in, chosen from what the hardware can do fast.

On a CPU, bfloat16 has a hardware path only with AVX-512 BF16 or AMX; elsewhere (AVX2 machines, most
older Xeons and AMD before Zen 4) it is emulated and float32 is faster (why: docs/decisions/dtype.md).
On CUDA: bfloat16 where the GPU supports it, float16 otherwise."""

import ctypes.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import RagtuneError

DTYPES = ("auto", "float32", "bfloat16", "float16")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def choose_dtype(setting: str, *, cuda: bool | None = None, flags: set[str] | None = None) -> tuple[str, str]:
    """(dtype, why) for a setting of "auto" or an explicit dtype (which always wins)."""
    if setting != "auto":
        return setting, "set in engine.dtype"
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if cuda:
        import torch

        if torch.cuda.is_bf16_supported():
            return "bfloat16", "the GPU supports bfloat16"
        return "float16", "the GPU has no bfloat16"
    found = sorted(set(BF16_CPU_FLAGS) & (cpu_flags() if flags is None else flags))
    if found:
        return "bfloat16", f"the CPU has {', '.join(found)}"
    return "float32", "the CPU has no bfloat16 hardware path (no avx512_bf16/amx_bf16)"


def describe_cpu() -> str:
    """One line for benchmark output: model name and the flags that decide the format."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next((line.partition(":")[2].strip() for line in text.splitlines() if "model name" in line), "?")
    flags = cpu_flags()
    wanted = [f for f in ("avx2", "avx512f", *BF16_CPU_FLAGS) if f in flags]
    return f"{model} ({', '.join(wanted) or 'no AVX2'})"


# below this many cores vLLM's one core reserved for its front end would idle too large a share of the machine
# (why: docs/decisions/cpu-threads.md)
SMALL_MACHINE_CORES = 4
TCMALLOC_NAMES = ("tcmalloc_minimal", "tcmalloc")


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def find_tcmalloc() -> str | None:
    """The file name of the system's tcmalloc (Debian: libtcmalloc-minimal4), as LD_PRELOAD takes it."""
    for name in TCMALLOC_NAMES:
        if found := ctypes.util.find_library(name):
            return found
    return None


@dataclass
class CpuRuntime:
    """What vLLM's CPU engine process is started with: environment variables and, per choice, why."""

    env: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def choose_cpu_runtime(
    reserved_cores: int | None,
    allocator: str,
    environ: Mapping[str, str],
    *,
    cores: int | None = None,
    tcmalloc: str | None = None,
) -> CpuRuntime:
    """vLLM's reserved front-end cores and the memory allocator for a CPU engine: the settings' values, a value
    already in the environment, else chosen from the machine. `tcmalloc`: the library to preload (default: the
    system's)."""
    cores = usable_cores() if cores is None else cores
    runtime = CpuRuntime()
    if "VLLM_CPU_NUM_OF_RESERVED_CPU" in environ:
        runtime.reasons.append(
            f"{environ['VLLM_CPU_NUM_OF_RESERVED_CPU']} cores reserved for the front end (set in the environment)"
        )
    elif reserved_cores is not None:
        runtime.env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(reserved_cores)
        runtime.reasons.append(f"{reserved_cores} cores reserved for the front end (engine.cpu_reserved_cores)")
    elif cores < SMALL_MACHINE_CORES:
        runtime.env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"
        runtime.reasons.append(f"no core reserved for the front end: a reserved one of {cores} would idle")
    else:
        runtime.reasons.append(f"vLLM's front-end core reserve ({cores} cores)")
    preload = environ.get("LD_PRELOAD", "")
    if "libtcmalloc" in preload:
        runtime.reasons.append("tcmalloc (preloaded in the environment)")
    elif allocator == "system":
        runtime.reasons.append("the system allocator (engine.cpu_allocator)")
    else:
        library = tcmalloc or find_tcmalloc()
        if library:
            runtime.env["LD_PRELOAD"] = ":".join(filter(None, (library, preload)))
            runtime.reasons.append(f"tcmalloc ({library})")
        elif allocator == "tcmalloc":
            raise RagtuneError(
                "engine.cpu_allocator is tcmalloc but no tcmalloc library is installed: install Debian's "
                "libtcmalloc-minimal4 (make setup does as root) or set engine.cpu_allocator to auto"
            )
        else:
            runtime.reasons.append("the system allocator (no tcmalloc installed: Debian's libtcmalloc-minimal4)")
    return runtime


def memory_available_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """What Linux says can be allocated without swapping (MemAvailable); None elsewhere."""
    try:
        line = next(line for line in meminfo.read_text().splitlines() if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) * 1024


def choose_merged_lora(
    setting: bool | None, weights_bytes: int | None, kv_cache_bytes: int, max_loras: int, available_bytes: int | None
) -> tuple[bool, str]:
    """Whether a CPU engine runs batches of one adapter on merged weights, and why. Unset: where what that keeps
    (the model's weights once more, and at most a whole merged copy per adapter slot) fits in half the memory
    left once the model and its KV cache are loaded, so that it cannot be what runs the machine out of memory."""
    if setting is not None:
        state = "batches of one adapter on merged weights" if setting else "no merged weights for one-adapter batches"
        return setting, f"{state} (engine.merged_cpu_lora)"
    if weights_bytes is None or available_bytes is None:
        return False, "no merged weights for one-adapter batches: the model's size or the free memory is unknown"
    needed = weights_bytes * (1 + max_loras)
    spare = (available_bytes - weights_bytes - kv_cache_bytes) / 2
    if needed <= spare:
        return True, f"batches of one adapter on merged weights (up to {needed / 2**30:.1f} GiB kept)"
    return False, (
        f"no merged weights for one-adapter batches: up to {needed / 2**30:.1f} GiB would not fit in half of the "
        f"{max(spare * 2, 0) / 2**30:.1f} GiB left after the model and its KV cache (engine.merged_cpu_lora)"
    )
