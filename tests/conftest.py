"""Shared fixtures. The embedded chat model is converted once per machine into .ragtune-test/models."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO / ".ragtune-test" / "models"


# Markers that follow from a fixture: a test using it is left out of `make test-fast` even if unmarked.
FIXTURE_MARKERS = {"live_server": "slow", "postgres_url": "postgres"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


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


@pytest.fixture(autouse=True)
def environment_restored():
    """A test that builds an engine in this process sets vLLM's variables in os.environ: they reach no later
    test, nor a server a later test starts with a copy of the environment."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
