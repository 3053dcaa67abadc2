import pytest


@pytest.fixture(scope="session")
def embedder():
    """The embedded all-MiniLM-L6-v2, loaded once per test session."""
    from retrieval.embedding import Embedder

    return Embedder("all-MiniLM-L6-v2")
