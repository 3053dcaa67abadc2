"""From a data file to train/validation samples: load, clean (with report), augment, split."""

from dataclasses import dataclass
from pathlib import Path

from core.settings import PiiSettings, TrainingSettings
from training.augment import paraphrase_questions, substitute_entities
from training.cleaning import CleaningOptions, CleaningReport, clean
from training.data import Conversation, load_conversations
from training.split import split


@dataclass
class PreparedData:
    train: list[Conversation]
    val: list[Conversation]
    report: CleaningReport
    augmented: int


def prepare_data(
    path: Path,
    cfg: TrainingSettings,
    entities: dict[str, list[str]] | None = None,
    templates: list[str] | None = None,
    *,
    pii: PiiSettings,
) -> PreparedData:
    samples, report = _load_clean(path, pii)
    extra = substitute_entities(samples, entities, seed=cfg.seed) if entities else []
    extra += paraphrase_questions(samples, templates, seed=cfg.seed) if templates else []
    train, val = split(samples + extra, cfg.val_ratio, cfg.seed)
    return PreparedData(train=train, val=val, report=report, augmented=len(extra))


def prepare_faq(paths: list[Path], *, pii: PiiSettings) -> list[Conversation]:
    """A knowledge base's own FAQ files (question/answer pairs) as extra training samples in its answer style,
    cleaned like the rest; each pair's gold source is its file (by name, as the knowledge base knows it)."""
    samples = []
    for path in paths:
        cleaned, _ = _load_clean(path, pii)
        for sample in cleaned:
            sample.gold_sources = sample.gold_sources or [path.name]
        samples += cleaned
    return samples


def _load_clean(path: Path, pii: PiiSettings) -> tuple[list[Conversation], CleaningReport]:
    options = CleaningOptions(mask_pii=pii.mask_in_training, keep=tuple(pii.keep))
    return clean(load_conversations(path), options)
