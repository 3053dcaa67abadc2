import pytest


@pytest.fixture
def make_kb(tmp_path, embedder):
    """A fresh knowledge base under tmp_path sharing the session's embedder; settings can be overridden."""
    from knowledge import KnowledgeBase
    from core.settings import KnowledgeSettings
    from core.settings import RetrievalSettings

    def make(name: str = "kb", knowledge: dict | None = None, **retrieval):
        return KnowledgeBase.open(
            tmp_path / name, KnowledgeSettings(**(knowledge or {})), RetrievalSettings(**retrieval), embedder
        )

    return make
