"""Feedback fixtures: a SQLite store in a temp folder, and a real PostgreSQL server the session starts
(Debian's postgresql package, run as the `postgres` user when the tests run as root)."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from core.settings import FeedbackSettings, PiiSettings
from feedback.records import ChatRecord
from feedback.service import FeedbackService
from feedback.store import PostgresStore, SqliteStore


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL cluster on a free loopback port; skipped where the server is not installed."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql): PostgreSQL tests skipped")
    bin_dir = Path(binaries[-1]).parent
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="ragtune-pg-"))  # not under pytest's 0700 tmp: postgres must enter
    data, sockets = folder / "data", folder / "sock"
    sockets.mkdir()
    if as_root:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    try:
        subprocess.run(
            [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *run_as,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as err:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {err.stderr.decode(errors='replace')[-500:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


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
