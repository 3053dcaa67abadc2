"""The demo adapter's recipe (examples/training/demo-recipe.yaml): data, knowledge-base collection and training
settings in one file, so what `make` trains is what the file says. The sweep script uses the same code."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from core.errors import RagtuneError
from core.settings import Settings, TrainingSettings

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


def load_recipe(path: Path = DEMO_RECIPE) -> Recipe:
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as err:
        raise RagtuneError(f"{path}: cannot read the recipe: {err}") from err
    if not isinstance(raw, dict) or not {"data", "collection", "training"} <= set(raw):
        raise RagtuneError(f"{path}: a recipe needs data, collection and training")
    unknown = set(raw["training"]) - set(TrainingSettings.model_fields)
    if unknown:
        raise RagtuneError(f"{path}: training: unknown settings {', '.join(sorted(unknown))}")
    return Recipe(path, text, Path(raw["data"]), raw["collection"], raw["training"], raw.get("max_samples"))


def recipe_settings(recipe: Recipe, settings: Settings, **overrides) -> Settings:
    """`settings` with the recipe's training values (and `overrides`, for the sweep) in its training section."""
    training = settings.training.model_validate({**settings.training.model_dump(), **recipe.training, **overrides})
    return settings.model_copy(update={"training": training})


def is_current(folder: Path, recipe: Recipe) -> bool:
    """Whether the adapter in `folder` was trained on this recipe's values (comments may differ)."""
    copy = folder / RECIPE_COPY
    return copy.exists() and yaml.safe_load(copy.read_text(encoding="utf-8")) == yaml.safe_load(recipe.text)
