"""The demo adapter's recipe (examples/training/demo-recipe.yaml): data, knowledge-base collection and training
settings in one file, so what `make` trains is what the file says. The sweep script uses the same code."""

import random
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.adapters import read_adapter_info
from core.errors import RagtuneError
from core.prompt import PROMPT_FORMAT
from core.settings import PiiSettings, Settings, TrainingSettings
from training.pipeline import PreparedData, prepare_data

DEMO_RECIPE = Path("examples/training/demo-recipe.yaml")
RECIPE_COPY = "recipe.yaml"  # kept in the adapter folder: the adapter is current while the values match


@dataclass
class Recipe:
    path: Path
    text: str
    data: Path
    collection: str
    training: dict
    max_samples: int | None = None
    max_decline_share: float | None = None  # of the training samples whose answer is a decline
    faq: list[Path] = field(default_factory=list)  # FAQ files added to the training split
    pii: dict = field(default_factory=dict)  # PiiSettings values for its data (keep: public contacts)


def load_recipe(path: Path = DEMO_RECIPE) -> Recipe:
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as err:
        raise RagtuneError(f"{path}: cannot read the recipe: {err}") from err
    if not isinstance(raw, dict) or not {"data", "collection", "training"} <= set(raw):
        raise RagtuneError(f"{path}: a recipe needs data, collection and training")
    for section, fields in (("training", TrainingSettings.model_fields), ("pii", PiiSettings.model_fields)):
        unknown = set(raw.get(section) or {}) - set(fields)
        if unknown:
            raise RagtuneError(f"{path}: {section}: unknown settings {', '.join(sorted(unknown))}")
    share = raw.get("max_decline_share")
    if share is not None and not (isinstance(share, (int, float)) and 0 <= share < 1):
        raise RagtuneError(f"{path}: max_decline_share: {share!r} is not a share from 0 up to 1")
    faq = raw.get("faq") or []
    if not isinstance(faq, list) or not all(isinstance(f, str) for f in faq):
        raise RagtuneError(f"{path}: faq: expected a list of FAQ file paths")
    return Recipe(
        path=path,
        text=text,
        data=Path(raw["data"]),
        collection=raw["collection"],
        training=raw["training"],
        max_samples=raw.get("max_samples"),
        max_decline_share=share,
        faq=[Path(f) for f in faq],
        pii=raw.get("pii") or {},
    )


def recipe_settings(recipe: Recipe, settings: Settings, **overrides) -> Settings:
    """`settings` with the recipe's training values (and `overrides`, for the sweep) in its training section,
    and its personal-data values in the pii section."""
    training = settings.training.model_validate({**settings.training.model_dump(), **recipe.training, **overrides})
    pii = settings.pii.model_validate({**settings.pii.model_dump(), **recipe.pii})
    return settings.model_copy(update={"training": training, "pii": pii})


def recipe_data(recipe: Recipe, settings: Settings) -> PreparedData:
    """The recipe's data cleaned and split into training and validation samples, as the demo adapter is
    trained on them (`settings`: from recipe_settings, with the recipe's seed, split and pii values)."""
    return prepare_data(recipe.data, settings.training, pii=settings.pii)


def cap_declines(samples: list, declines: set[str], share: float, seed: int) -> list:
    """`samples` with at most `share` of them answering with one of `declines` (a seeded pick, order kept):
    a data set of unanswerable questions teaches a model to decline what it could answer."""
    declining = [i for i, s in enumerate(samples) if s.messages[-1]["content"].strip() in declines]
    answering = len(samples) - len(declining)
    keep = min(len(declining), int(share * answering / (1 - share)))
    dropped = set(declining) - set(random.Random(seed).sample(declining, keep))
    return [s for i, s in enumerate(samples) if i not in dropped]


def is_current(folder: Path, recipe: Recipe) -> bool:
    """Whether the adapter in `folder` was trained on this recipe's values (comments may differ)."""
    copy = folder / RECIPE_COPY
    return copy.exists() and yaml.safe_load(copy.read_text(encoding="utf-8")) == yaml.safe_load(recipe.text)


def training_reason(folder: Path, recipe: Recipe) -> str | None:
    """Why the adapter in `folder` must be trained (again) on `recipe`; None: it is current."""
    if not folder.exists():
        return f"no demo adapter in {folder}"
    try:
        info = read_adapter_info(folder)
    except RagtuneError:
        info = None
    if info is None or info.prompt_format != PROMPT_FORMAT or not is_current(folder, recipe):
        return f"the demo adapter in {folder} was trained on another recipe or prompt format"
    return None
