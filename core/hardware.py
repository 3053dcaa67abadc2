"""The number format a model runs in, chosen from what the hardware can do fast.

On a CPU, bfloat16 has a hardware path only with AVX-512 BF16 or AMX; elsewhere (AVX2 machines, most
older Xeons and AMD before Zen 4) it is emulated and float32 is faster (why: docs/decisions/dtype.md).
On CUDA: bfloat16 where the GPU supports it, float16 otherwise."""

from pathlib import Path

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
