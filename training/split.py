"""A deterministic train/validation split, stratified by intent when samples carry one."""

import hashlib
import math
from collections import defaultdict

from training.data import Conversation


def split(
    samples: list[Conversation], val_ratio: float, seed: int
) -> tuple[list[Conversation], list[Conversation]]:
    """The same samples and seed give the same split, whatever their order in the file. Each intent gives
    its share to validation (at least one sample when it has two or more); augmented samples stay in train
    unless their source sample is in validation, so no variant of a validation sample leaks into training."""
    originals = [s for s in samples if not s.augmented]
    groups: dict[str, list[Conversation]] = defaultdict(list)
    for sample in originals:
        groups[sample.intent or ""].append(sample)
    val_keys = set()
    for group in groups.values():
        ranked = sorted(group, key=lambda s: _key(s, seed))
        n_val = math.floor(len(ranked) * val_ratio + 0.5) if len(ranked) > 1 else 0
        n_val = max(n_val, 1) if val_ratio > 0 and len(ranked) > 1 else n_val
        val_keys.update(_key(s, seed) for s in ranked[:n_val])
    train = [s for s in originals if _key(s, seed) not in val_keys]
    val = [s for s in originals if _key(s, seed) in val_keys]
    val_origins = {s.origin for s in val}
    train += [s for s in samples if s.augmented and s.origin not in val_origins]
    return train, val


def _key(sample: Conversation, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x00{sample.id}\x00{sample.text()}".encode()).hexdigest()
