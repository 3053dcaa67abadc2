"""Samples -> token ids with labels on assistant tokens only, through the shared prompt builder and the
model's own chat template; then packing into rows that waste no compute on padding."""

from dataclasses import dataclass

import torch

from core.errors import RagtuneError
from core.prompt import Source, as_text, build_prompt, render_prompt
from training.data import Conversation, KtoExample, PreferencePair

IGNORE = -100


def encode(
    sample: Conversation, sources: list[Source] | None, *, tokenizer, system_prompt: str, max_len: int
) -> dict | None:
    """input_ids and labels (IGNORE outside the assistant's answers); None when even the answer alone
    does not fit in max_len. Sources (RAFT) go into the system turn exactly as the server puts them."""
    try:
        messages = build_prompt(
            sample.messages,
            sources,
            tokenizer=tokenizer,
            system_prompt=system_prompt,
            style=sample.style,
            max_prompt_tokens=max_len,
        ).messages
    except RagtuneError:
        return None
    text, spans = render_with_answer_spans(messages, tokenizer)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    if len(ids) > max_len:
        return None
    labels = [
        token if any(start <= begin < end for start, end in spans) else IGNORE
        for token, (begin, _) in zip(ids, encoded["offset_mapping"])
    ]
    return {"input_ids": ids, "labels": labels}


def render_with_answer_spans(messages: list[dict], tokenizer) -> tuple[str, list[tuple[int, int]]]:
    """The conversation through the chat template, and the character spans of each assistant answer
    (its text and end-of-turn marker, as the model must produce them after the generation prompt)."""
    if not tokenizer.is_fast:
        raise RagtuneError(f"{tokenizer.name_or_path}: training needs a fast tokenizer (character offsets)")
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render_prompt(messages[:index], tokenizer)  # exactly what the server sends before an answer
        last = index == len(messages) - 1
        upto = text if last else tokenizer.apply_chat_template(messages[: index + 1], tokenize=False)
        if not (upto.startswith(prompt) and text.startswith(upto)):
            raise RagtuneError(
                f"{tokenizer.name_or_path}: the chat template rewrites earlier turns, so assistant tokens "
                "cannot be located; train on single-turn samples"
            )
        spans.append((len(prompt), len(prompt) + len(upto[len(prompt) :].rstrip())))
    return text, spans


def pack(examples: list[dict], max_len: int) -> list[dict]:
    """First-fit-decreasing into rows of at most max_len tokens. position_ids restart at each sample, which
    transformers turns into a block-diagonal mask, so samples in a row never attend to each other."""
    rows: list[dict] = []
    for example in sorted(examples, key=lambda e: -len(e["input_ids"])):
        size = len(example["input_ids"])
        row = next((r for r in rows if len(r["input_ids"]) + size <= max_len), None)
        if row is None:
            row = {"input_ids": [], "labels": [], "position_ids": []}
            rows.append(row)
        row["input_ids"] += example["input_ids"]
        row["labels"] += example["labels"]
        row["position_ids"] += list(range(size))
    return rows


@dataclass
class PackedCollator:
    """Pads rows to the longest in the batch. Padding is a sample of its own (positions restart), never
    attended to by real tokens and never in the loss. use_cache=False: transformers builds the block-diagonal
    mask from position_ids only without a KV cache."""

    pad_token_id: int

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        batch = {"input_ids": [], "labels": [], "position_ids": []}
        for row in rows:
            gap = width - len(row["input_ids"])
            batch["input_ids"].append(row["input_ids"] + [self.pad_token_id] * gap)
            batch["labels"].append(row["labels"] + [IGNORE] * gap)
            batch["position_ids"].append(row["position_ids"] + list(range(gap)))
        return {
            **{key: torch.tensor(value, dtype=torch.long) for key, value in batch.items()},
            "use_cache": False,
        }


def served_prompt(
    record: PreferencePair | KtoExample, tokenizer, system_prompt: str, max_len: int
) -> list[dict]:
    """A rated answer's prompt exactly as the server built it: the sources it showed, its system prompt (the
    given one where the record has none) and style tag."""
    return build_prompt(
        record.prompt,
        record.sources,
        tokenizer=tokenizer,
        system_prompt=record.system_prompt or system_prompt,
        style=record.style,
        max_prompt_tokens=max_len,
    ).messages


def preference_row(pair: PreferencePair, tokenizer, system_prompt: str, max_prompt_tokens: int) -> dict:
    """TRL's conversational pair: the prompt as the server built it (served_prompt, within max_prompt_tokens),
    the chosen and the rejected answer each as an assistant turn."""
    return {
        "prompt": served_prompt(pair, tokenizer, system_prompt, max_prompt_tokens),
        "chosen": assistant_turn(pair.chosen, tokenizer),
        "rejected": assistant_turn(pair.rejected, tokenizer),
    }


def assistant_turn(text: str, tokenizer) -> list[dict]:
    """An answer as one assistant turn; an answer is text too, never control tokens (core.prompt.as_text)."""
    return [{"role": "assistant", "content": as_text(text, tokenizer)}]
