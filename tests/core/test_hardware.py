"""The number format: float32 on a CPU without a bfloat16 hardware path, bfloat16 where it has one, and the
setting always wins."""

from pathlib import Path

from core.hardware import choose_dtype, cpu_flags

AVX2_ONLY = {"fpu", "sse4_2", "avx", "avx2", "fma"}


def test_a_cpu_without_bfloat16_hardware_runs_float32():
    dtype, why = choose_dtype("auto", cuda=False, flags=AVX2_ONLY)
    assert dtype == "float32" and "no bfloat16" in why


def test_a_cpu_with_avx512_bf16_or_amx_runs_bfloat16():
    for flag in ("avx512_bf16", "amx_bf16"):
        dtype, why = choose_dtype("auto", cuda=False, flags=AVX2_ONLY | {flag})
        assert dtype == "bfloat16" and flag in why


def test_the_setting_overrides_the_choice():
    assert choose_dtype("bfloat16", cuda=False, flags=AVX2_ONLY) == ("bfloat16", "set in engine.dtype")
    assert choose_dtype("float32", cuda=False, flags={"amx_bf16"})[0] == "float32"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(Path(tmp_path / "missing")) == set()
