"""Quantised serving: the chat model against its quantised copies, in speed, memory and answer quality.

The copies are `ragtune models quantize`'s, served by ragtune's server side by side with the original on the
load of benchmarks/serving.py; their answers are scored as `make eval` scores them.

Speed (default): for each model one ragtune server (vLLM, the number format ragtune chooses), loads of
benchmarks/serving.py (concurrency 8, streaming, exactly 64 new tokens, temperature 0, the demo evaluation
questions): base RAG off, base RAG on, and a rank-16 LoRA adapter made for the unquantised model (RAG off),
served on each copy as on the original. `--online fp8` adds the unquantised model quantised by vLLM as it
loads (engine.quantization); a method that does not start is reported with its error. Figures: completion
tokens/s, mean time to first token, and the peak resident memory of the server's process tree (the server
and vLLM's engine process, sampled every 0.2 s from start to the end of its last load; pages shared between
them count in each). Ratios are against the unquantised model in the same run.

Kernels (--layers): the matrix products of one decode step through vLLM's CPU kernels, bfloat16 against
int8, at the 135M model's shape and at 1.7B and 7B shapes: what the serving figures of a small model cannot
show.

Quality (--quality): `ragtune eval` on the demo set for each model (base and the demo adapter, RAG on;
held-out questions and conversations), then each copy against the unquantised model: ROUGE-L and key-fact
accuracy, mean difference with a 95% paired bootstrap interval over the same questions (reports under
reports/quantized/).

    python benchmarks/quantized_serving.py [--schemes w8a8,w4a16] [--online fp8] [--requests 32] [--quality]
                                           [--layers] [--no-speed]
                                           [--home /tmp/ragtune-bench-quantized] [--write-docs]

--write-docs puts the tables into docs/benchmarks.md (benchmarks/docs_table.py).
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import docs_table  # this folder's helpers, imported before the folder leaves sys.path
import psutil
import serving

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
QUALITY_METRICS = (("rouge_l", "ROUGE-L"), ("key_fact_accuracy", "key-fact accuracy"))


class PeakMemory:
    """The highest summed resident memory of a process and its children, sampled in a thread."""

    def __init__(self, pid: int, every_s: float = 0.2):
        self.root, self.every_s, self.peak = psutil.Process(pid), every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for process in [self.root, *self.root.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:  # a process that ended between listing and reading
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.every_s)

    def stop(self) -> float:
        """The peak in GiB."""
        self._stop.set()
        self._thread.join()
        return self.peak / 2**30


@contextmanager
def ragtune_server(label: str, env: dict, home: Path):
    """(url, PeakMemory) of a ragtune server started with `env`; memory is sampled from its start."""
    from core.process import free_port, server_process

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from ragtune.cli import main; main()", "serve", "--port", str(port)]
    print(f"{label} ...", flush=True)
    with server_process(command, env, home / f"{label}.log", url + "/readyz", name=label) as process:
        yield url, PeakMemory(process.pid)


def quantized_copies(base_path: str, schemes: list[str], models_dir: Path) -> dict[str, str]:
    """name -> folder of the unquantised model and of each scheme's copy, made when missing."""
    from core.chat_model import model_fingerprint
    from core.quantization import quantize_model
    from ragtune.cli_models import calibration_texts

    models = {"unquantised": base_path}
    for scheme in schemes:
        target = models_dir / f"{Path(base_path).name}-{scheme}"
        if not (target / "config.json").is_file():
            texts = calibration_texts(REPO / "examples" / "knowledge")
            quantize_model(base_path, target, scheme, model_fingerprint(base_path), texts)
        models[scheme] = str(target)
    return models


def speed(models: dict[str, str], online: list[str], args) -> dict[str, dict]:
    """name -> {run: figures of serving.run_load, 'peak_gib': peak memory}, or {'error': why it did not
    start}; `online` methods quantise the unquantised model as vLLM loads it (engine.quantization)."""
    from core.errors import RagtuneError
    from core.settings import Settings

    base_path = models["unquantised"]
    serving.prepare_home(args.home, base_path)  # the adapter `bench`, trained for the unquantised model
    lines = (REPO / "examples" / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    wanted = args.requests + serving.CONCURRENCY
    prompts = [
        [{"role": "user", "content": q}] for q in (questions * (wanted // len(questions) + 1))[:wanted]
    ]
    engine = Settings().engine
    results: dict[str, dict] = {}
    servers = [(name, path, "none") for name, path in models.items()]
    servers += [(f"{method} (on load)", models["unquantised"], method) for method in online]
    for name, path, method in servers:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "RAGTUNE_HOME": str(args.home),
            "RAGTUNE_CHAT_MODEL": path,
            "RAGTUNE_ENGINE__KIND": "vllm",
            "RAGTUNE_ENGINE__DTYPE": engine.dtype,
            "RAGTUNE_ENGINE__QUANTIZATION": method,
            "RAGTUNE_RAILS__GROUNDING__ENABLED": "false",  # every question generates
        }
        figures: dict = {}
        try:
            with ragtune_server(f"ragtune-{name.split()[0]}", env, args.home) as (url, memory):
                for run, model, rag in (
                    ("base RAG off", Path(path).name, False),
                    ("base RAG on", Path(path).name, True),
                    ("adapter RAG off", "bench", False),
                ):
                    figures[run] = asyncio.run(
                        serving.run_load(f"{name} {run}", url, model, prompts, {"rag": {"enabled": rag}})
                    )
                figures["peak_gib"] = memory.stop()
        except RagtuneError as err:  # a method this vLLM cannot run here: its own words go in the table
            print(f"  {name}: {err}", flush=True)
            results[name] = {"error": _last_error_line(str(err))}
            continue
        print(f"  {name}: peak resident memory {figures['peak_gib']:.2f} GiB", flush=True)
        results[name] = figures
    return results


def _last_error_line(log: str) -> str:
    """The error a failed server start ended with (its log's last line naming an error)."""
    lines = [line.strip() for line in log.splitlines() if "Error" in line or "error" in line]
    return (lines[-1] if lines else log.strip().splitlines()[-1])[:300].replace("|", "/")


def speed_table(results: dict[str, dict]) -> str:
    runs = ("base RAG off", "base RAG on", "adapter RAG off")
    base = results["unquantised"]
    rows = []
    for name, figures in results.items():
        if "error" in figures:
            rows.append([name, f"did not start: {figures['error']}", "—", "—", "—"])
            continue
        cells = [
            f"{figures[r]['tokens_per_s']:.1f} ({figures[r]['tokens_per_s'] / base[r]['tokens_per_s']:.2f}×) "
            f"/ {figures[r]['ttft_mean_s']:.2f} s"
            for r in runs
        ]
        peak = f"{figures['peak_gib']:.2f} ({figures['peak_gib'] / base['peak_gib']:.2f}×)"
        rows.append([name, *cells, peak])
    header = ["model", *(f"{r}: tokens/s (× unquantised) / TTFT" for r in runs), "peak RSS GiB (×)"]
    return docs_table.markdown_table(header, rows)


# (hidden size, intermediate size, key/value width, layers timed): the 135M model whole; one or two layers of
# the larger shapes, enough that their weights cannot sit in the CPU's cache either
LAYER_SHAPES = {
    "SmolLM2-135M (576 / 1536, 30 layers)": (576, 1536, 192, 30),
    "SmolLM2-1.7B shape (2048 / 8192, 2 layers)": (2048, 8192, 2048, 2),
    "Llama-2-7B shape (4096 / 11008, 1 layer)": (4096, 11008, 4096, 1),
}


def layer_speed(tokens: int, repeats: int = 30) -> list[list[str]]:
    """The decoder layers' matrix products of one decode step (`tokens` running requests) through the CPU
    kernels vLLM picks for each layer: bfloat16 weights (its unquantised path) against int8 weights with int8
    activations quantised per token (the W8A8 path). Rows: shape, ms per layer for each, int8's speed-up."""
    import torch

    torch.manual_seed(0)
    rows = []
    for label, (hidden, inter, kv, layers) in LAYER_SHAPES.items():
        shapes = [(hidden, hidden + 2 * kv), (hidden, hidden), (hidden, 2 * inter), (inter, hidden)] * layers
        inputs = [torch.randn(tokens, k, dtype=torch.bfloat16) for k, _ in shapes]
        plain = [_bf16_linear(torch.randn(n, k, dtype=torch.bfloat16)) for k, n in shapes]
        quantised = [
            _int8_linear(torch.randint(-127, 128, (n, k), dtype=torch.int8), torch.rand(n, 1) / 100)
            for k, n in shapes
        ]
        bf16 = _median_s(plain, inputs, repeats) / layers * 1000
        int8 = _median_s(quantised, inputs, repeats) / layers * 1000
        rows.append([label, f"{bf16:.3f}", f"{int8:.3f}", f"{bf16 / int8:.2f}×"])
        print(f"  {label}: bf16 {bf16:.3f} ms, int8 {int8:.3f} ms per layer", flush=True)
    return rows


def _bf16_linear(weight):
    """vLLM's unquantised CPU linear for this weight (model_executor/layers/utils.py)."""
    import torch
    from vllm import _custom_ops as ops
    from vllm.model_executor.layers.utils import check_cpu_sgl_kernel

    n, k = weight.shape
    if check_cpu_sgl_kernel(n, k, weight.dtype):
        packed = torch.ops._C.convert_weight_packed(weight)
        return lambda x: ops.weight_packed_linear_cpu(x, packed, n, None)
    handler = ops.create_onednn_mm(weight.t(), 32)
    return lambda x: ops.onednn_mm(handler, x, None)


def _int8_linear(weight, scale):
    """vLLM's CPU W8A8 linear for this weight (kernels/linear/scaled_mm/cpu.py): the AMX kernel where it
    applies, else oneDNN; the activations are quantised per token inside."""
    import torch
    from vllm import _custom_ops as ops
    from vllm.model_executor.layers.utils import check_cpu_sgl_kernel

    n, k = weight.shape
    if check_cpu_sgl_kernel(n, k, weight.dtype):
        packed = torch.ops._C.convert_weight_packed(weight)
        return lambda x: torch.ops._C.int8_scaled_mm_with_quant(x, packed, scale, None, x.dtype, True)
    handler = ops.create_onednn_scaled_mm(weight.t(), scale, torch.bfloat16, True, False, 32)

    def run(x):
        x_q, x_s, _ = ops.onednn_scaled_int8_quant(x, None, None, True)
        out = torch.empty(x.shape[0], n, dtype=x.dtype)
        ops.onednn_scaled_mm(handler, x_q, out, x_s, None, None, None)
        return out

    return run


def _median_s(linears: list, inputs: list, repeats: int) -> float:
    import statistics

    def step():
        for linear, x in zip(linears, inputs):
            linear(x)

    step()  # the kernels pack weights and build their primitives on the first call
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def quality(models: dict[str, str]) -> dict[str, Path]:
    """name -> its `ragtune eval` report folder (the demo set: base and demo, RAG on)."""
    ragtune = [sys.executable, "-c", "from ragtune.cli import main; main()"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run(
        [*ragtune, "kb", "sync", "examples/knowledge", "--collection", "demo"], cwd=REPO, env=env, check=True
    )
    subprocess.run([*ragtune, "adapters", "ensure-demo"], cwd=REPO, env=env, check=True)
    reports = {}
    for name, path in models.items():
        out = REPO / "reports" / "quantized" / name
        eval_args = [
            "--questions",
            "examples/eval/questions.jsonl",
            "--conversations",
            "examples/eval/conversations.jsonl",
        ]
        command = [*ragtune, "eval", *eval_args, "--models", "base,demo", "--rag", "on", "--out", str(out)]
        print(f"ragtune eval, {name} ...", flush=True)
        subprocess.run(command, cwd=REPO, env={**env, "RAGTUNE_CHAT_MODEL": path}, check=True)
        reports[name] = out
    return reports


def quality_deltas(reports: dict[str, Path]) -> list[list[str]]:
    """One row per copy, combination and metric: unquantised mean, copy mean, paired difference [95% CI]."""
    from evaluation.bootstrap import paired_bootstrap
    from evaluation.store import load_run

    def scores(folder: Path) -> dict[tuple, dict]:
        _, rows = load_run(folder)
        return {(r["combination"], r["question_id"]): r for r in rows if r.get("set") != "general"}

    base = scores(reports["unquantised"])
    table = []
    for name, folder in reports.items():
        if name == "unquantised":
            continue
        copy = scores(folder)
        for combination in dict.fromkeys(c for c, _ in base):
            for key, label in QUALITY_METRICS:
                pairs = [
                    (base[k][key], copy[k][key])
                    for k in base
                    if k[0] == combination
                    and k in copy
                    and base[k].get(key) is not None
                    and copy[k].get(key) is not None
                ]
                if not pairs:
                    continue
                before, after = [a for a, _ in pairs], [b for _, b in pairs]
                delta = paired_bootstrap(before, after, samples=2000, seed=0)
                mark = "*" if delta.significant else ""
                table.append(
                    [
                        name,
                        combination,
                        label,
                        f"{sum(before) / len(before):.3f}",
                        f"{sum(after) / len(after):.3f}",
                        f"{delta.mean:+.3f} [{delta.low:+.3f}, {delta.high:+.3f}]{mark}",
                        str(delta.n),
                    ]
                )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemes", default="w8a8,w4a16", help="the copies to compare, by scheme")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--quality", action="store_true", help="also run `ragtune eval` for each model")
    parser.add_argument("--no-speed", action="store_true", help="skip the serving loads")
    parser.add_argument("--online", default="", help="methods vLLM applies as it loads the model, e.g. fp8")
    parser.add_argument("--layers", action="store_true", help="also time the layers' kernels at 1-7B shapes")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "ragtune-bench-quantized")
    parser.add_argument("--write-docs", action="store_true", help="write the tables into docs/benchmarks.md")
    args = parser.parse_args()

    from core.chat_model import EMBEDDED_CHAT_MODEL, prepare_chat_model
    from core.hardware import choose_dtype, describe_cpu
    from core.quantization import SCHEMES
    from core.settings import Settings

    schemes = [s for s in args.schemes.split(",") if s]
    if not schemes or set(schemes) - set(SCHEMES):
        parser.error(f"--schemes: {args.schemes!r}: give some of {', '.join(SCHEMES)}")
    settings = Settings()
    base_path = prepare_chat_model(EMBEDDED_CHAT_MODEL, settings.models_dir)
    models = quantized_copies(base_path, schemes, settings.models_dir)
    dtype, why = choose_dtype(settings.engine.dtype)
    print(f"{describe_cpu()}, {os.cpu_count()} cores; ragtune's number format {dtype} ({why})", flush=True)
    started = time.perf_counter()
    if not args.no_speed:
        results = speed(models, [m for m in args.online.split(",") if m], args)
        table = speed_table(results)
        print("\n" + table)
        if args.write_docs:
            note = (
                f"SmolLM2-135M-Instruct and its copies from `ragtune models quantize` ({dtype} activations); "
                f"ragtune's server on vLLM, {args.requests} streamed requests at concurrency "
                f"{serving.CONCURRENCY}, {serving.NEW_TOKENS} new tokens (benchmarks/serving.py's load); the "
                "adapter is a rank-16 LoRA made for the unquantised model. Peak RSS: the server and vLLM's "
                "engine process together, from start to the last load."
            )
            docs_table.write_table("quantized-serving", table, note=note)
    if args.layers:
        rows = layer_speed(serving.CONCURRENCY)
        header = ["layer shape", "bf16 ms / layer", "int8 W8A8 ms / layer", "int8 speed-up"]
        table = docs_table.markdown_table(header, rows)
        print("\n" + table)
        if args.write_docs:
            note = (
                f"One decode step's matrix products ({serving.CONCURRENCY} running requests: q/k/v, o, gate/up, "
                "down per layer) through the CPU kernels vLLM picks for each (AMX where they apply, else oneDNN), "
                "median of 30: bfloat16 weights (vLLM's "
                "unquantised path) against int8 weights with int8 activations scaled per token (the W8A8 path, "
                "quantising the activations included). Random weights of each shape; the larger shapes predict "
                "what quantising does for a 1-7B model on this CPU."
            )
            docs_table.write_table("quantized-layers", table, note=note)
    if args.quality:
        rows = quality_deltas(quality(models))
        header = ["copy", "combination", "metric", "unquantised", "quantised", "difference [95% CI]", "n"]
        table = docs_table.markdown_table(header, rows)
        print("\n" + table)
        if args.write_docs:
            note = (
                "`ragtune eval` on the demo set (held-out questions and conversations; base and the demo "
                "adapter, RAG on) for the unquantised model and each copy; quantised − unquantised with a 95% "
                "paired bootstrap interval over the same questions (`*`: excludes zero). Reports: "
                "reports/quantized/."
            )
            docs_table.write_table("quantized-quality", table, note=note)
    print(f"\n{time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
