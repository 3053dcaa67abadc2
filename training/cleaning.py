"""Cleaning with a report: markup and control characters, whitespace, personal data, length bounds,
exact and near duplicates, and an intent balance check. Counts are kept per reason."""

import html
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from core.pii import mask_personal_data
from training.data import Conversation

_TAG = re.compile(r"<[^<>\n]{1,200}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")


@dataclass
class CleaningOptions:
    mask_pii: bool = True
    keep: tuple[str, ...] = ()  # never masked: the company's own public addresses and numbers
    min_answer_chars: int = 2
    max_chars: int = 8000
    near_duplicate_threshold: float = 0.85  # Jaccard similarity of character 3-grams
    balance_tolerance: float = 0.2


@dataclass
class CleaningReport:
    before: int = 0
    after: int = 0
    removed: Counter = field(default_factory=Counter)  # reason -> samples dropped
    modified: Counter = field(default_factory=Counter)  # reason -> samples changed
    masked: Counter = field(default_factory=Counter)  # kind of personal data -> occurrences
    intents: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)


def clean(
    samples: list[Conversation], options: CleaningOptions | None = None
) -> tuple[list[Conversation], CleaningReport]:
    options = options or CleaningOptions()
    report = CleaningReport(before=len(samples))
    kept = []
    for sample in samples:
        sample = _clean_sample(sample, options, report)
        reason = _length_problem(sample, options)
        if reason:
            report.removed[reason] += 1
        else:
            kept.append(sample)
    kept = _drop_duplicates(kept, options.near_duplicate_threshold, report)
    report.after = len(kept)
    report.intents = Counter(s.intent for s in kept if s.intent)
    report.warnings = balance_warnings(report.intents, options.balance_tolerance)
    return kept, report


def normalise_text(text: str) -> tuple[str, set[str]]:
    """The cleaned text and the reasons it changed."""
    reasons = set()
    unescaped = html.unescape(_TAG.sub(" ", text)) if _TAG.search(text) or "&" in text else text
    if unescaped != text:
        reasons.add("html")
    text = unescaped
    stripped = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if stripped != text:
        reasons.add("control_chars")
    text = stripped
    squeezed = _BLANK_LINES.sub(
        "\n\n", "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    ).strip()
    if squeezed != text:
        reasons.add("whitespace")
    return squeezed, reasons


def _clean_sample(sample: Conversation, options: CleaningOptions, report: CleaningReport) -> Conversation:
    reasons, masked = set(), Counter()
    messages = []
    for message in sample.messages:
        text, why = normalise_text(message["content"])
        reasons |= why
        if options.mask_pii:
            text = mask_personal_data(text, masked, options.keep)
        messages.append({**message, "content": text})
    for reason in reasons:
        report.modified[reason] += 1
    if masked:
        report.modified["personal_data"] += 1
        report.masked.update(masked)
    return replace(sample, messages=messages)


def _length_problem(sample: Conversation, options: CleaningOptions) -> str | None:
    if any(not m["content"] for m in sample.messages if m["role"] != "system"):
        return "empty_turn"
    if len(sample.messages[-1]["content"]) < options.min_answer_chars:
        return "too_short"
    if len(sample.text()) > options.max_chars:
        return "too_long"
    return None


def _drop_duplicates(
    samples: list[Conversation], threshold: float, report: CleaningReport
) -> list[Conversation]:
    seen, unique = set(), []
    for sample in samples:
        key = re.sub(r"\s+", "", sample.text().lower())
        if key in seen:
            report.removed["exact_duplicate"] += 1
        else:
            seen.add(key)
            unique.append(sample)
    near = near_duplicates([[_squeeze(m["content"]) for m in s.messages] for s in unique], threshold)
    report.removed["near_duplicate"] += len(near)
    return [s for i, s in enumerate(unique) if i not in near]


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


def _shingles(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(max(1, len(text) - 2))}


def near_duplicates(samples: list[list[str]], threshold: float, bands: int = 16, rows: int = 4) -> set[int]:
    """Indices of samples (lists of turns) near-duplicating an earlier one: every turn's character-3-gram
    Jaccard similarity reaches threshold (one answer template used for different questions is no duplicate).
    MinHash with LSH banding over the whole sample finds the candidates."""
    turns = [[_shingles(turn) for turn in sample] for sample in samples]
    shingles = [set().union(*sample) for sample in turns]
    rng = np.random.default_rng(0)
    a, b = (rng.integers(1, 2**31 - 1, bands * rows, dtype=np.uint64) for _ in range(2))
    prime = np.uint64(2**31 - 1)
    buckets: dict[tuple, list[int]] = {}
    duplicates: set[int] = set()
    for index, grams in enumerate(shingles):
        hashes = np.array([zlib.crc32(g.encode()) for g in grams], dtype=np.uint64)
        signature = ((np.outer(hashes, a) + b) % prime).min(axis=0)
        candidates = set()
        for band in range(bands):
            key = (band, *signature[band * rows : (band + 1) * rows].tolist())
            candidates.update(buckets.setdefault(key, []))
            buckets[key].append(index)
        if any(j not in duplicates and _same_turns(turns[index], turns[j], threshold) for j in candidates):
            duplicates.add(index)
    return duplicates


def _same_turns(x: list[set], y: list[set], threshold: float) -> bool:
    return len(x) == len(y) and all(_jaccard(a, b) >= threshold for a, b in zip(x, y))


def _jaccard(x: set, y: set) -> float:
    return len(x & y) / len(x | y) if x or y else 1.0


def balance_warnings(intents: Counter, tolerance: float) -> list[str]:
    if len(intents) < 2:
        return []
    mean = sum(intents.values()) / len(intents)
    return [
        f"intent '{intent}' has {count} samples, {abs(count - mean) / mean:.0%} "
        f"{'above' if count > mean else 'below'} the mean of {mean:.1f}"
        for intent, count in sorted(intents.items())
        if abs(count - mean) > tolerance * mean
    ]
