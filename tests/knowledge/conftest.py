import pytest


@pytest.fixture
def make_kb(tmp_path, embedder):
    """A fresh knowledge base under tmp_path; its settings and embedder (default: the shared one) can be set."""
    from core.settings import KnowledgeSettings, RetrievalSettings
    from knowledge import KnowledgeBase

    def make(name: str = "kb", knowledge: dict | None = None, embedder=embedder, **retrieval):
        return KnowledgeBase.open(
            tmp_path / name, KnowledgeSettings(**(knowledge or {})), RetrievalSettings(**retrieval), embedder
        )

    return make
