"""The one settings class: env prefix RAGTUNE_ (nested with __), optional ragtune.yaml. Passed down, never global."""

import os
from pathlib import Path

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from evaluation.config import EvaluationSettings
from knowledge.config import KnowledgeSettings
from retrieval.config import RetrievalSettings
from server.config import EngineSettings, ServerSettings
from training.config import TrainingSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGTUNE_", env_nested_delimiter="__", extra="ignore")

    home: Path = Path(".ragtune")
    chat_model: str = "SmolLM2-135M-Instruct"  # embedded id, local model folder or hub id
    retrieval: RetrievalSettings = RetrievalSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    training: TrainingSettings = TrainingSettings()
    engine: EngineSettings = EngineSettings()
    server: ServerSettings = ServerSettings()
    evaluation: EvaluationSettings = EvaluationSettings()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("RAGTUNE_CONFIG", "ragtune.yaml")
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))

    @property
    def kb_dir(self) -> Path:
        return self.home / "kb"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"
