"""Feedback fixtures: a SQLite store in a temp folder, and a real PostgreSQL server the session starts
(tests/postgres.py)."""

import time
from pathlib import Path

import pytest

from core.settings import FeedbackSettings, PiiSettings
from feedback.records import ChatRecord
from feedback.service import FeedbackService
from feedback.store import PostgresStore, SqliteStore
from tests.postgres import postgres_cluster


def chat(response_id: str, **fields) -> ChatRecord:
    """A logged completion with sensible defaults."""
    values = {
        "model": "assistant",
        "messages": [{"role": "user", "content": "How do I reset the router?"}],
        "answer": "Hold the reset button for ten seconds [1].",
        "sources": [
            {
                "source": "manuals/router.md",
                "title": "Router",
                "document_id": "d1",
                "chunk_id": "c1",
                "score": 0.82,
            }
        ],
        "collection": "support",
        "decisions": {"grounding": {"fallback": False}, "handoff": None},
        "latency_s": 0.4,
        "prompt_tokens": 120,
        "completion_tokens": 14,
        **fields,
    }
    return ChatRecord(response_id=response_id, **values)


def feedback_service(home: Path, pii: PiiSettings | None = None, **fields) -> FeedbackService:
    """A (not yet started) service on SQLite in `home`; fields: FeedbackSettings'."""
    return FeedbackService(FeedbackSettings(**fields), pii or PiiSettings(), home)


@pytest.fixture
def sqlite_store(tmp_path):
    store = SqliteStore(tmp_path / "feedback.sqlite")
    store.migrate()
    yield store
    store.close()


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on a free loopback port; skipped where the server is not installed."""
    with postgres_cluster() as cluster:
        yield cluster.url


@pytest.fixture
def postgres_store(postgres_url):
    store = PostgresStore(postgres_url)
    store.migrate()
    with store._cursor() as cursor:  # each test starts empty
        cursor.execute("TRUNCATE chat_log, feedback, experiments, assignments")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
