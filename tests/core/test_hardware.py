"""The number format: float32 on a CPU without a bfloat16 hardware path, bfloat16 where it has one, and the
setting always wins. vLLM's CPU engine: the front-end core reserve and the allocator from the machine."""

from pathlib import Path

import pytest

from core.errors import RagtuneError
from core.hardware import (
    choose_cpu_runtime,
    choose_dtype,
    choose_merged_lora,
    cpu_flags,
    memory_available_bytes,
)

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


def test_a_small_machine_reserves_no_core_and_preloads_tcmalloc():
    runtime = choose_cpu_runtime(None, "auto", {}, cores=2, tcmalloc="libtcmalloc_minimal.so.4")
    assert runtime.env == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "LD_PRELOAD": "libtcmalloc_minimal.so.4"}
    assert "no core reserved" in runtime.reasons[0] and "tcmalloc" in runtime.reasons[1]


def test_a_larger_machine_keeps_vllms_reserve_and_the_settings_and_environment_win():
    assert "VLLM_CPU_NUM_OF_RESERVED_CPU" not in choose_cpu_runtime(None, "system", {}, cores=16).env
    assert choose_cpu_runtime(2, "system", {}, cores=2).env == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "2"}
    shell = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "1", "LD_PRELOAD": "/opt/libtcmalloc.so"}
    runtime = choose_cpu_runtime(0, "auto", shell, cores=2, tcmalloc="libtcmalloc_minimal.so.4")
    assert runtime.env == {} and "set in the environment" in runtime.reasons[0]
    other = choose_cpu_runtime(None, "auto", {"LD_PRELOAD": "libfoo.so"}, cores=2, tcmalloc="libtcmalloc.so.4")
    assert other.env["LD_PRELOAD"] == "libtcmalloc.so.4:libfoo.so"  # the environment's preloads are kept


def test_tcmalloc_asked_for_but_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("core.hardware.find_tcmalloc", lambda: None)
    assert choose_cpu_runtime(None, "auto", {}, cores=2).reasons[1].startswith("the system allocator")
    with pytest.raises(RagtuneError, match="engine.cpu_allocator is tcmalloc.*libtcmalloc-minimal4"):
        choose_cpu_runtime(None, "tcmalloc", {}, cores=2)


GIB = 2**30


def test_merged_adapter_weights_are_kept_only_where_they_fit_and_the_reason_says_so(tmp_path):
    # a 135M model (0.3 GiB) with 4 adapter slots on a 24 GiB machine: up to 1.5 GiB kept
    on, why = choose_merged_lora(None, int(0.3 * GIB), 2 * GIB, 4, 20 * GIB)
    assert on and why == "batches of one adapter on merged weights (up to 1.5 GiB kept)"
    # a 7B model (13.5 GiB) on 64 GiB: five copies would not fit
    on, why = choose_merged_lora(None, int(13.5 * GIB), 2 * GIB, 4, 60 * GIB)
    assert not on and "67.5 GiB would not fit in half of the 44.5 GiB left" in why
    assert "engine.merged_cpu_lora" in why  # where to force it
    assert choose_merged_lora(True, int(13.5 * GIB), 2 * GIB, 4, 60 * GIB)[0]  # the setting wins
    assert not choose_merged_lora(False, int(0.3 * GIB), 2 * GIB, 4, 20 * GIB)[0]
    assert not choose_merged_lora(None, None, 2 * GIB, 4, 20 * GIB)[0]  # size unknown: not risked

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n")
    assert memory_available_bytes(meminfo) == 20000000 * 1024
    assert memory_available_bytes(tmp_path / "missing") is None
