"""Faster LoRA for vLLM's CPU backend, loaded into every vLLM process as a vLLM plugin.

vLLM's CPU LoRA ops (`vllm.lora.ops.torch_ops`) copy the adapter's weight matrix once per token
(`weights[indices]`) and multiply token by token (`einsum("bi,boi->bo")`): a 1,000-token prompt copies
hundreds of MB per layer, which makes adapters slower than the base model (why and how much:
docs/decisions/lora-cpu-ops.md). The versions here multiply each group of tokens that share an adapter
with one matrix product; tokens without an adapter (index -1) get nothing added. They replace vLLM's when
`RAGTUNE_VLLM_GROUPED_LORA=1`, which ragtune's vLLM engine sets (engine.grouped_cpu_lora); vLLM run on its
own is left as it is.

The linear layers (add_lora_linear, four calls per transformer layer and step) skip vLLM's chain of
per-slice shrink and expand calls, each finding the token groups anew and filling a float32 buffer: the
groups are found once per batch, all slices of a merged layer (q/k/v, gate/up) are done in two matrix
products per group, and a batch with no adapter token adds nothing at all.

vLLM runs a LoRA-enabled model uncompiled on CPU (its LoRA ops do not trace), which costs base traffic the
compiled model's speed. Here each LoRA layer's adapter part is one opaque custom op (`ragtune::lora_delta`)
that the compiler calls as it is, so the model compiles as without LoRA; a batch without adapter tokens
skips the adapter part in the op. A batch whose tokens all use one adapter runs on merged weights instead
(vllm_cpu_merged.py) and skips it too. Why: docs/decisions/lora-tax.md.
"""

import os

import torch
import torch.nn.functional as F

from server.engines import vllm_cpu_merged
from server.engines.vllm_cpu_merged import filled

ENV_FLAG = "RAGTUNE_VLLM_GROUPED_LORA"


def token_groups(indices: torch.Tensor) -> list[tuple[int, torch.Tensor | None]]:
    """(adapter slot, its token rows; None: every token) for each adapter in the batch; -1 (none) left out."""
    slots = torch.unique(indices).tolist()
    if len(slots) == 1:
        return [(slots[0], None)] if slots[0] >= 0 else []
    return [(slot, indices == slot) for slot in slots if slot >= 0]


def lora_matmul(inputs: torch.Tensor, weights: torch.Tensor, indices: torch.Tensor, dtype) -> torch.Tensor:
    """Row t of the result is inputs[t] @ weights[indices[t]].T; zero where indices[t] is -1.
    inputs: [tokens, in]; weights: [slots, (1,) out, in]; indices: [tokens]."""
    if weights.dim() == 4:
        weights = weights.squeeze(1)
    inputs = inputs.to(dtype)
    groups = token_groups(indices)
    if len(groups) == 1 and groups[0][1] is None:  # the usual batch: every token uses the same adapter
        return inputs @ weights[groups[0][0]].to(dtype).T
    result = torch.zeros(inputs.shape[0], weights.shape[1], dtype=dtype, device=inputs.device)
    for slot, rows in groups:
        result[rows] = inputs[rows] @ weights[slot].to(dtype).T
    return result


def bgmv_shrink(inputs, lora_a_weights, output_tensor, lora_indices_tensor, scaling: float = 1.0):
    outputs = lora_matmul(inputs, lora_a_weights, lora_indices_tensor, output_tensor.dtype)
    output_tensor[:, : outputs.shape[1]] = scaling * outputs


def bgmv_expand(inputs, lora_b_weights, output_tensor, lora_indices_tensor, add_inputs: bool = True):
    outputs = lora_matmul(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    limit = 1 if outputs.shape[0] == 1 and output_tensor.shape[0] != 1 else output_tensor.shape[0]
    width = min(outputs.shape[1], output_tensor.shape[1])  # adapter and model may pad differently
    if add_inputs:
        output_tensor[:, :width] += outputs[:limit, :width]
    else:
        output_tensor[:, :width] = outputs[:limit, :width]


def bgmv_expand_slice(
    inputs, lora_b_weights, output_tensor, lora_indices_tensor, slice_offset, slice_size, add_inputs=True
):
    outputs = lora_matmul(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    if add_inputs:
        output_tensor[:, slice_offset : slice_offset + slice_size] += outputs
    else:
        output_tensor[:, slice_offset : slice_offset + slice_size] = outputs


def _groups(wrapper) -> list[tuple[int, torch.Tensor | None]]:
    """The token groups of the wrapper's current indices, found again only when vLLM has written new ones
    (an in-place write bumps the tensor's version)."""
    key = (wrapper.indices_len[0], wrapper._token_lora_indices._version)
    if getattr(wrapper, "ragtune_groups_key", None) != key:
        wrapper.ragtune_groups_key, wrapper.ragtune_groups = key, token_groups(wrapper.token_lora_indices)
    return wrapper.ragtune_groups


def _fused(wrapper, lora_a_stacked, lora_b_stacked, output_slices, slot, dtype):
    """One slot's LoRA of a layer as two matrices in `dtype`, laid out for x @ A @ B: the A of every slice side
    by side ([in, ranks]) and the B of every slice as one block-diagonal matrix ([ranks, out]), the ranks vLLM
    pads up to max_lora_rank left out; None where the adapter leaves the layer out (rank 0). Built again only
    when vLLM has written new weights into the layer's stacks (an in-place write bumps a tensor's version)."""
    cache = wrapper.__dict__.setdefault("ragtune_fused", {})
    versions = tuple(t._version for t in (*lora_a_stacked, *lora_b_stacked))
    key = (id(lora_a_stacked[0]), slot, dtype)
    if key not in cache or cache[key][0] != versions:
        a_parts, b_parts = [], []
        for lora_a, lora_b, size in zip(lora_a_stacked, lora_b_stacked, output_slices):
            a, b = lora_a[slot, 0], lora_b[slot, 0, :size]
            used = a.abs().sum(dim=1).nonzero()
            rank = int(used[-1]) + 1 if len(used) else 0  # an adapter of rank r fills rows [:r]
            a_parts.append(a[:rank])
            b_parts.append(b[:, :rank])
        a, b = torch.cat(a_parts).T, torch.block_diag(*b_parts).T
        cache[key] = (versions, (a.to(dtype).contiguous(), b.to(dtype).contiguous()) if a.shape[1] else None)
    return cache[key][1]


# Batches of fewer tokens (decode steps) multiply the adapter in float32: on CPU a 16-bit matrix product pays
# a fixed cost per call that outweighs its speed at such sizes, and vLLM's own shrink is float32 too.
FLOAT32_BELOW_TOKENS = 32


def add_lora_linear(self, y, x, lora_a_stacked, lora_b_stacked, scale, output_slices, **kwargs) -> None:
    """y[:, slice i] += scale * (x @ A_i[slot].T) @ B_i[slot].T for each slice and each group of tokens that
    share an adapter slot: what vLLM's add_shrink + add_expand compute, in two matrix products per group for
    all slices together (float32 for small batches, else the model's number format)."""
    x, out = x.view(-1, x.shape[-1]), y.view(-1, y.shape[-1])
    width = sum(output_slices)
    target = out if width == out.shape[1] else out[:, :width]
    dtype = torch.float32 if x.shape[0] < FLOAT32_BELOW_TOKENS else out.dtype
    for slot, rows in _groups(self):
        fused = _fused(self, lora_a_stacked, lora_b_stacked, output_slices, slot, dtype)
        if fused is None:  # the adapter leaves this layer out
            continue
        delta = torch.mm(torch.mm((x if rows is None else x[rows]).to(dtype), fused[0]), fused[1])
        if scale != 1.0:
            delta *= scale
        if rows is None:
            target += delta.to(out.dtype)
        else:
            target[rows] += delta.to(out.dtype)


def add_lora_logits(self, y, x, lora_a_stacked, lora_b_stacked, scale, **kwargs) -> None:
    """vLLM's add_lora_logits (the LM head's adapter part, once per step), skipped unless a sampled token's
    adapter has an LM head part: base traffic, and adapters of the attention layers only, add nothing there."""
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    if any(filled(lora_b_stacked, slot) for slot, _ in token_groups(self.sampler_indices)):
        STOCK[(PunicaWrapperCPU, "add_lora_logits")](self, y, x, lora_a_stacked, lora_b_stacked, scale, **kwargs)


class _Layer:
    """One of vLLM's LoRA layers as the op reads it, its attributes read once: through the module each read
    goes through vLLM's forwarding __getattr__, once per layer and step."""

    def __init__(self, module):
        self.module, self.wrapper = module, None

    def bind(self) -> None:
        """Read the layer's attributes (vLLM gives a layer its punica wrapper only after registering it)."""
        module = self.module
        self.embedding = "lora_a_stacked_2d" in vars(module)
        self.lora_a, self.lora_b = module.lora_a_stacked, module.lora_b_stacked
        self.slices = None if self.embedding else module.output_slices
        self.wrapper = module.punica_wrapper


# vLLM's LoRA layers by the number their custom op call carries (set when vLLM registers each layer)
_LAYERS: list[_Layer] = []


# Defined through torch.library.Library rather than the custom_op decorator: the compiled model calls the op
# once per LoRA layer and step, and this dispatch is the cheaper one (docs/decisions/lora-tax.md). Its kernel
# is lora_gate.cpp's where that builds (it calls lora_delta_python only for batches with adapter tokens), else
# lora_delta_python's.
_LIBRARY = torch.library.Library("ragtune", "DEF")
_LIBRARY.define("lora_delta(Tensor(a!) output, Tensor x, int layer) -> ()")
_LIBRARY.define("lora_delta_python(Tensor(a!) output, Tensor x, int layer) -> ()")


def lora_delta(output: torch.Tensor, x: torch.Tensor, layer: int) -> None:
    """Add layer number `layer`'s adapter part to `output` (its base output for input `x`), in place."""
    if not _ADAPTER_WORK:
        return
    entry = _LAYERS[layer]
    if entry.wrapper is None:
        entry.bind()
    groups = _groups(entry.wrapper)
    if not groups:  # no adapter token in this batch
        return
    if entry.embedding:
        _embedding_lora(entry.module, output, x)
    elif any(filled(lora_a, slot) for lora_a in entry.lora_a for slot, _ in groups):  # else: all left it out
        # the wrapper's add_lora_linear is this module's, without vLLM's reshaping around it
        add_lora_linear(entry.wrapper, output, x, entry.lora_a, entry.lora_b, 1.0, entry.slices)


_LIBRARY.impl("lora_delta_python", lora_delta, "CompositeExplicitAutograd")


@torch.library.register_fake("ragtune::lora_delta", lib=_LIBRARY)
def _(output: torch.Tensor, x: torch.Tensor, layer: int) -> None:
    return None


def _load_gate():
    """lora_gate.cpp built (once per machine, cached by torch) and loaded as the op's kernel, returning its
    switch: a function taking whether the batch has adapter tokens. None where it cannot be built (no
    compiler): the op then runs its Python body on every call."""
    import ctypes
    import logging
    import subprocess

    from torch.utils.cpp_extension import load

    source = os.path.join(os.path.dirname(__file__), "lora_gate.cpp")
    try:
        path = load("ragtune_lora_gate", [source], is_python_module=False, extra_cflags=["-O2"])
    except (OSError, RuntimeError, subprocess.SubprocessError) as err:  # no compiler, no headers, a failed build
        logging.getLogger(__name__).warning("LoRA op gate not built (%s): the op runs in Python on every call", err)
        return None
    return ctypes.CDLL(path).ragtune_set_adapters_in_batch


def _update_metadata(self, *args, **kwargs) -> None:
    """PunicaWrapperBase.update_metadata (a new batch's adapter mapping), then the layers switched to the merged
    weights of the batch's one adapter where they can be, and the op's gate set for what is left."""
    STOCK[(type(self), "update_metadata")](self, *args, **kwargs)
    groups = _groups(self)
    one_adapter = groups[0][0] if len(groups) == 1 and groups[0][1] is None else None
    merged = _MERGED is not None and _MERGED.use(one_adapter)
    set_adapter_work(bool(groups) and not merged)


def set_adapter_work(on: bool) -> None:
    """Whether the op adds adapter parts (off: the batch has no adapter token, or runs on merged weights)."""
    global _ADAPTER_WORK
    _ADAPTER_WORK = on
    if _GATE is not None:
        _GATE(1 if on else 0)


def _deactivate_adapter(self, lora_id: int) -> None:
    """LoRAModelManager._deactivate_adapter, the adapter's merged copies freed with its slot."""
    from vllm.lora.model_manager import LoRAModelManager

    slot = self.lora_index_to_id.index(lora_id) if lora_id in self.lora_index_to_id else None
    STOCK[(LoRAModelManager, "_deactivate_adapter")](self, lora_id)
    if slot is not None:
        _MERGED.drop(slot)


def _embedding_lora(module, output: torch.Tensor, ids: torch.Tensor) -> None:
    """What vLLM's VocabParallelEmbeddingWithLoRA.forward adds to the base embedding: nothing unless an adapter
    of the batch has an embedding part."""
    wrapper = module.punica_wrapper
    if not any(filled(module.lora_b_stacked, slot) for slot, _ in _groups(wrapper)):
        return
    lora_a = F.embedding(ids + wrapper._embeddings_indices[: ids.shape[0]], module.lora_a_stacked_2d)
    wrapper.add_lora_embedding(output.view(-1, output.shape[-1]), lora_a, module.lora_b_stacked, add_input=True)


def _linear_output(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """BaseLinearLayerWithLoRA._apply_lora_to_output: under the compiler, the adapter part as the opaque op."""
    if torch.compiler.is_compiling():
        torch.ops.ragtune.lora_delta(output, x, self.ragtune_layer)
        return output
    if not _ADAPTER_WORK or not _groups(self.punica_wrapper):
        return output
    return _LINEAR_LORA(self, x, output)


def _embedding_forward(self, x: torch.Tensor) -> torch.Tensor:
    """VocabParallelEmbeddingWithLoRA.forward: the base embedding, plus the adapter part where there is one."""
    output = self.base_layer.forward(x)
    if torch.compiler.is_compiling():
        torch.ops.ragtune.lora_delta(output, x, self.ragtune_layer)
    elif _ADAPTER_WORK and _groups(self.punica_wrapper):
        _embedding_lora(self, output, x)
    return output


def _register_module(self, module_name: str, module) -> None:
    """LoRAModelManager.register_module, numbering each layer for its custom op call."""
    _REGISTER_MODULE(self, module_name, module)
    module.ragtune_layer = len(_LAYERS)
    _LAYERS.append(_Layer(module))
    if _MERGED is not None:
        _MERGED.add(module)


def _compiled_with_lora(original):
    """CpuPlatform.check_and_update_config without its 'LoRA: no compilation' rule (the LoRA layers' adapter
    parts are opaque ops here, so the model compiles as without LoRA)."""

    def check_and_update_config(vllm_config) -> None:
        lora, vllm_config.lora_config = vllm_config.lora_config, None
        try:
            original(vllm_config)
        finally:
            vllm_config.lora_config = lora

    return classmethod(lambda cls, vllm_config: check_and_update_config(vllm_config))


_LINEAR_LORA = None  # vLLM's own BaseLinearLayerWithLoRA._apply_lora_to_output, once registered
_REGISTER_MODULE = None
_GATE = None  # lora_gate.cpp's switch, once registered and built
_MERGED = None  # the engine's layers for batches of one adapter, where engine.merged_cpu_lora is on
# False while the batch has no adapter token or runs on merged weights; True as a process starts (tests that
# write the adapter indices directly rely on it)
_ADAPTER_WORK = True


def active() -> bool:
    """Whether this process runs vLLM's CPU LoRA through the ops here (vLLM loads its plugins in every process)."""
    from vllm.lora.punica_wrapper import punica_cpu

    return punica_cpu.bgmv_shrink is bgmv_shrink


def register() -> None:
    """vLLM plugin entry point (vllm.general_plugins); runs in each vLLM process."""
    if os.environ.get(ENV_FLAG) != "1":
        return
    from vllm.lora.ops.torch_ops import lora_ops
    from vllm.lora.punica_wrapper import punica_cpu

    # the sgmv_* (prefill) ops call these through lora_ops' globals; punica_cpu imported them by name
    for module in (lora_ops, punica_cpu):
        _replace(module, "bgmv_shrink", bgmv_shrink)
        _replace(module, "bgmv_expand", bgmv_expand)
        _replace(module, "bgmv_expand_slice", bgmv_expand_slice)
    _replace(punica_cpu.PunicaWrapperCPU, "add_lora_linear", add_lora_linear)
    _replace(punica_cpu.PunicaWrapperCPU, "add_lora_logits", add_lora_logits)

    global _LINEAR_LORA, _REGISTER_MODULE, _GATE, _MERGED
    from vllm.lora.layers import VocabParallelEmbeddingWithLoRA
    from vllm.lora.layers.base_linear import BaseLinearLayerWithLoRA
    from vllm.lora.model_manager import LoRAModelManager
    from vllm.platforms import current_platform
    from vllm.platforms.cpu import CpuPlatform

    # elsewhere vLLM compiles LoRA models itself; vLLM may load its plugins more than once in a process
    if current_platform.is_cpu() and _LINEAR_LORA is None:
        _LINEAR_LORA = BaseLinearLayerWithLoRA._apply_lora_to_output
        _REGISTER_MODULE = LoRAModelManager.register_module
        _replace(BaseLinearLayerWithLoRA, "_apply_lora_to_output", _linear_output)
        _replace(VocabParallelEmbeddingWithLoRA, "forward", _embedding_forward)
        _replace(LoRAModelManager, "register_module", _register_module)
        compiled = _compiled_with_lora(CpuPlatform.check_and_update_config)
        _replace(CpuPlatform, "check_and_update_config", compiled)
        if vllm_cpu_merged.enabled():
            from vllm.model_executor.layers import utils

            _MERGED = vllm_cpu_merged.MergedAdapters()
            keeping = vllm_cpu_merged.keeping_weights(utils.dispatch_cpu_unquantized_gemm)
            _replace(utils, "dispatch_cpu_unquantized_gemm", keeping)
            _replace(LoRAModelManager, "_deactivate_adapter", _deactivate_adapter)
        _replace(punica_cpu.PunicaWrapperCPU, "update_metadata", _update_metadata)
        _GATE = _load_gate()
        kernels = ("CPU", "CompositeExplicitAutograd")
        if _GATE is None and not any(_has_kernel("ragtune::lora_delta", key) for key in kernels):
            _LIBRARY.impl("lora_delta", lora_delta, "CompositeExplicitAutograd")


_has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key


# (owner, name) -> vLLM's own attribute, kept when first replaced: an engine built in this process (its
# configuration loads the plugins here too) leaves them replaced, and the tests compare against vLLM's own.
STOCK: dict[tuple[object, str], object] = {}


def _replace(owner, name: str, new) -> None:
    # the class's own attribute as it is (a classmethod stays one), else the one it inherits
    STOCK.setdefault((owner, name), vars(owner)[name] if name in vars(owner) else getattr(owner, name))
    setattr(owner, name, new)
