"""Knowledge-base and curated-answer writers serialised by a PostgreSQL advisory lock when the feedback database
is PostgreSQL (replicas on several hosts, where file locks on the shared volume are not reliable): a writer
waits for another one holding it and gives up with a clear message, readers never wait, and a database that
cannot be reached is a clear error with nothing stored lost."""

from pathlib import Path

import psycopg
import pytest

from core.errors import UnavailableError
from core.process import free_port
from core.settings import KnowledgeSettings, RetrievalSettings
from knowledge import KnowledgeBase
from knowledge.answers import AnswerStore, CuratedAnswer
from knowledge.locking import advisory_key
from tests.postgres import postgres_cluster

RETURNS = "# Returns\n\nUnused items can be returned within 30 days of delivery for a full refund."
WARRANTY_ZH = "# 保修\n\n每件产品都有两年保修，涵盖制造缺陷。"


@pytest.fixture(scope="module")
def database_url():
    with postgres_cluster() as cluster:
        yield cluster.url


def open_kb(folder: Path, embedder, lock_url: str | None) -> KnowledgeBase:
    knowledge = KnowledgeSettings(lock_timeout_s=0.5)
    return KnowledgeBase.open(folder, knowledge, RetrievalSettings(), embedder, lock_url=lock_url)


def held_elsewhere(database_url: str, lock_file: Path) -> psycopg.Connection:
    """Another replica in the middle of a write: a session of its own holding the store's advisory lock."""
    conn = psycopg.connect(database_url, autocommit=True)
    conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key(lock_file),))
    return conn


def test_replicas_mounting_the_shared_home_at_different_paths_take_the_same_lock():
    here, there = Path("/srv/ragtune/kb/write.lock"), Path("/mnt/shared/home/kb/write.lock")
    assert advisory_key(here) == advisory_key(there)
    assert advisory_key(here) != advisory_key(Path("/srv/ragtune/answers/write.lock"))


@pytest.mark.postgres
def test_a_writer_waits_for_the_advisory_lock_not_the_file_lock(database_url, embedder, tmp_path):
    from filelock import FileLock

    kb = open_kb(tmp_path / "kb", embedder, database_url)
    kb.add_document("returns.md", RETURNS.encode())
    with FileLock(tmp_path / "kb" / "write.lock"):  # a file lock is not what PostgreSQL writers take
        kb.add_document("warranty-zh.md", WARRANTY_ZH.encode())
    assert kb.version == 2

    other = held_elsewhere(database_url, tmp_path / "kb" / "write.lock")
    try:
        assert [hit.source for hit in kb.search("保修多久", k=1)] == ["warranty-zh.md"]  # readers never wait
        with pytest.raises(
            UnavailableError,
            match=r"PostgreSQL advisory lock -?\d+\); gave up .*\(knowledge.lock_timeout_s\)",
        ):
            kb.remove("returns.md")
    finally:
        other.close()  # the lock ends with the session that held it
    assert kb.version == 2 and sorted(d["source"] for d in kb.documents()) == ["returns.md", "warranty-zh.md"]
    kb.remove("returns.md")
    assert [d["source"] for d in kb.documents()] == ["warranty-zh.md"]


@pytest.mark.postgres
def test_curated_answers_wait_for_their_own_advisory_lock(database_url, tmp_path):
    store = AnswerStore(tmp_path / "answers", lock_timeout_s=0.5, lock_url=database_url)
    store.add([CuratedAnswer(question="How long is the warranty?", answer="Two years.")])
    other = held_elsewhere(database_url, tmp_path / "kb" / "write.lock")  # the knowledge base's: no wait
    try:
        store.add([CuratedAnswer(question="保修多久？", answer="两年。")])
    finally:
        other.close()
    other = held_elsewhere(database_url, tmp_path / "answers" / "write.lock")
    try:
        with pytest.raises(UnavailableError, match="curated answers .* another replica or process"):
            store.add([CuratedAnswer(question="Do you ship abroad?", answer="Yes.")])
    finally:
        other.close()
    assert [a.question for a in store.read()[1]] == ["How long is the warranty?", "保修多久？"]


def test_a_lock_database_that_cannot_be_reached_is_a_clear_error_and_loses_nothing(embedder, tmp_path):
    kb = open_kb(tmp_path / "kb", embedder, None)
    kb.add_document("returns.md", RETURNS.encode())
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    kb = open_kb(tmp_path / "kb", embedder, unreachable)
    with pytest.raises(UnavailableError, match=r"write lock is kept in the feedback database \(feedback"):
        kb.add_document("warranty-zh.md", WARRANTY_ZH.encode())
    assert kb.version == 1 and [d["source"] for d in kb.documents()] == ["returns.md"]
