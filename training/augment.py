"""Optional augmentation; every new sample is marked with how it was made (Conversation.augmented)."""

import random
from dataclasses import replace

from core.errors import RagtuneError
from training.data import Conversation


def substitute_entities(
    samples: list[Conversation], entities: dict[str, list[str]], per_sample: int = 1, seed: int = 42
) -> list[Conversation]:
    """New samples where an entity from a user-given list (cities, products...) is swapped for another of
    the same list, consistently in every turn."""
    rng = random.Random(seed)
    made = []
    for sample in samples:
        text = sample.text()
        for kind, names in sorted(entities.items()):
            present = [name for name in names if name and name in text]
            others = [name for name in names if name not in present]
            for _ in range(min(per_sample, len(others)) if present else 0):
                old, new = rng.choice(present), rng.choice(others)
                messages = [{**m, "content": m["content"].replace(old, new)} for m in sample.messages]
                made.append(replace(sample, messages=messages, augmented=f"entity:{kind}:{old}->{new}"))
    return made


def paraphrase_questions(
    samples: list[Conversation], templates: list[str], per_sample: int = 1, seed: int = 42
) -> list[Conversation]:
    """New samples whose last user turn is rewritten through templates such as '请问，{question}'."""
    if any("{question}" not in template for template in templates):
        raise RagtuneError("paraphrase templates must contain '{question}'")
    rng = random.Random(seed)
    made = []
    for sample in samples:
        last_user = max((i for i, m in enumerate(sample.messages) if m["role"] == "user"), default=None)
        if last_user is None:
            continue
        question = sample.messages[last_user]["content"]
        for template in rng.sample(templates, min(per_sample, len(templates))):
            messages = [dict(m) for m in sample.messages]
            messages[last_user]["content"] = template.format(question=question)
            made.append(replace(sample, messages=messages, augmented=f"template:{template}"))
    return made
