"""Causal-LM cross-entropy that never holds the vocabulary-sized logits of a whole batch.

Only positions whose next token is a label (labels != IGNORE, shifted as transformers does) reach the output
layer, a chunk of them at a time. Each chunk's gradients (towards the hidden states, and the output layer's
weight when it trains) are computed right there in forward, so its logits are dropped at once and backward
only scales stored gradients: no second pass through the output layer, unlike checkpointing each chunk.
The result equals transformers' ForCausalLMLoss: a mean over the batch's label tokens, or a sum divided by
num_items_in_batch when Trainer passes it (gradient accumulation)."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import Trainer

from training.encoding import IGNORE
from training.modeling import output_layer

# What the model is asked for instead of its loss: the hidden states (the last is what lm_head reads) and
# the logits of one position only.
HIDDEN_STATES_ONLY = {"output_hidden_states": True, "logits_to_keep": 1}


def chunked_causal_lm_loss(
    hidden: torch.Tensor,
    labels: torch.Tensor,
    head: torch.nn.Linear,
    *,
    chunk_size: int,
    num_items_in_batch: torch.Tensor | int | None = None,
) -> torch.Tensor:
    """Cross-entropy of head(hidden) (batch, seq, hidden) against labels (batch, seq) shifted left by one."""
    targets = F.pad(labels, (0, 1), value=IGNORE)[..., 1:]
    keep = targets != IGNORE
    states, targets = hidden[keep], targets[keep]
    if not len(targets):
        return hidden.sum() * 0.0  # nothing to learn here, but the graph stays whole
    with_grads = torch.is_grad_enabled()  # not so inside a Function's forward, nor shown by needs_input_grad
    total = _LinearCrossEntropy.apply(states, head.weight, head.bias, targets, chunk_size, with_grads)
    count = len(targets) if num_items_in_batch is None else num_items_in_batch
    return total / (count.to(total.device) if torch.is_tensor(count) else count)


class _LinearCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of states @ weight.T + bias against targets, chunk by chunk, with its
    gradients computed in forward (softmax - one_hot is the gradient of the logits)."""

    @staticmethod
    def forward(ctx, states, weight, bias, targets, chunk_size: int, with_grads: bool):
        wants = ctx.needs_input_grad[:3] if with_grads else (False, False, False)
        grads = [torch.zeros_like(x) if want else None for x, want in zip((states, weight, bias), wants)]
        total = torch.zeros((), dtype=torch.float32, device=states.device)
        for start in range(0, len(targets), chunk_size):
            rows = slice(start, start + chunk_size)
            chunk, target = states[rows], targets[rows]
            logits = F.linear(chunk, weight, bias).float()
            lse = logits.logsumexp(-1)
            total += (lse - logits.gather(1, target[:, None]).squeeze(1)).sum()
            if not any(wants):
                continue
            d_logits = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
            d_logits[torch.arange(len(target), device=target.device), target] -= 1
            d_logits = d_logits.to(chunk.dtype)
            if grads[0] is not None:
                grads[0][rows] = d_logits @ weight
            if grads[1] is not None:
                grads[1] += d_logits.T @ chunk
            if grads[2] is not None:
                grads[2] += d_logits.sum(0)
        ctx.grads = grads
        return total

    @staticmethod
    def backward(ctx, grad_total):
        grads = [None if g is None else g * grad_total for g in ctx.grads]
        return *grads, None, None, None


@dataclass
class ChunkedLoss:
    """Trainer's compute_loss_func: the loss from the model's last hidden states through its output layer."""

    head: torch.nn.Module
    chunk_size: int

    def __call__(self, outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        return chunked_causal_lm_loss(
            outputs.hidden_states[-1],
            labels,
            self.head,
            chunk_size=self.chunk_size,
            num_items_in_batch=num_items_in_batch,
        )


class ChunkedLossTrainer(Trainer):
    """Trainer whose causal-LM loss is a ChunkedLoss. The model still runs through its own forward (PEFT,
    DDP and accelerate wrappers see a normal call); Trainer still counts num_items_in_batch, scales for
    gradient accumulation and averages across devices, as for any compute_loss_func."""

    def __init__(self, *args, chunk_size: int, **kwargs):
        head = output_layer(kwargs["model"])
        super().__init__(*args, compute_loss_func=ChunkedLoss(head, chunk_size), **kwargs)

    def compute_loss(self, model, inputs, *args, **kwargs):
        return super().compute_loss(model, {**inputs, **HIDDEN_STATES_ONLY}, *args, **kwargs)
