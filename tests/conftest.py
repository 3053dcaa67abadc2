"""Shared fixtures. The embedded chat model is converted once per machine into .ragtune-test/models."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO / ".ragtune-test" / "models"


@pytest.fixture(scope="session")
def chat_model_path() -> str:
    from core.chat_model import EMBEDDED_CHAT_MODEL, prepare_chat_model

    return prepare_chat_model(EMBEDDED_CHAT_MODEL, SHARED_MODELS)


@pytest.fixture(scope="session")
def embedder():
    """The embedded all-MiniLM-L6-v2, loaded once per test session."""
    from retrieval.embedding import Embedder

    return Embedder("all-MiniLM-L6-v2")


@pytest.fixture
def settings(tmp_path, chat_model_path):
    """Settings with a fresh home folder; the chat model points at the shared converted copy."""
    from core.settings import Settings

    return Settings(home=tmp_path / "home", chat_model=chat_model_path)
