"""A writer killed (SIGKILL) mid-ingest or mid-sync leaves the previous version live, whole and searchable,
and `kb versions` says so; a rerun completes, reusing what the killed run embedded."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.settings import KnowledgeSettings, RetrievalSettings
from knowledge import KnowledgeBase
from ragtune.cli import app

# The writer: a real change whose embedder pauses after each batch, so the kill surely lands mid-way.
WRITER = """
import sys, time
from pathlib import Path
from knowledge import KnowledgeBase
from core.settings import KnowledgeSettings, RetrievalSettings
from retrieval.embedding import Embedder

class SlowEmbedder(Embedder):
    def encode(self, texts, **kwargs):
        vectors = super().encode(texts, **kwargs)
        time.sleep(2)
        return vectors

settings = RetrievalSettings(chunk_tokens=64, chunk_overlap=0)
kb = KnowledgeBase.open(Path(sys.argv[1]), KnowledgeSettings(), settings, SlowEmbedder(settings.embedding_model))
if sys.argv[3] == "sync":
    kb.sync(Path(sys.argv[2]), progress=False)
else:
    kb.add_paths([Path(sys.argv[2])], progress=False)
"""
RETURNS = "# Returns\n\nUnused items can be returned within 30 days of delivery."


def embedded_count(kb_dir: Path) -> int:
    with sqlite3.connect(kb_dir / "catalog.sqlite", timeout=30) as db:
        return db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]


def write_manuals(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for n in range(4):  # ~130 chunks, embedded in 64-chunk batches
        (folder / f"manual-{n}.txt").write_text(
            " ".join(
                f"Manual {n} step {i}: press the button for {i} seconds until the light turns blue."
                for i in range(120)
            )
        )


def kill_mid_embedding(kb_dir: Path, target: Path, mode: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(kb_dir), str(target), mode],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240
    while embedded_count(kb_dir) < 64 + 1 and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until the writer has embedded (and cached) its first batch
    assert writer.poll() is None, (
        f"writer ended before it could be killed: {writer.stderr.read().decode()[-2000:]}"
    )
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert list(kb_dir.glob("tmp-*"))  # it died with its new version half-built


@pytest.mark.slow  # a writer process of its own loads the embedder and is killed mid-way
@pytest.mark.parametrize("mode", ["add", "sync"])
def test_a_writer_killed_mid_change_leaves_the_old_version_whole_and_a_rerun_completes(
    mode, tmp_path, monkeypatch, embedder
):
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no ragtune.yaml from the repository
    kb_dir, docs = tmp_path / "home" / "kb", tmp_path / "docs"
    retrieval = RetrievalSettings(chunk_tokens=64, chunk_overlap=0)
    kb = KnowledgeBase.open(kb_dir, KnowledgeSettings(), retrieval, embedder)
    if mode == "sync":  # the folder is synced, then its returns policy changes and manuals arrive
        docs.mkdir()
        (docs / "returns.md").write_text(RETURNS)
        kb.sync(docs, progress=False)
        (docs / "returns.md").write_text(RETURNS.replace("30 days", "14 days"))
        target = docs
    else:
        kb.add_document("returns.md", RETURNS.encode())
        target = tmp_path / "manuals"
    write_manuals(target)

    kill_mid_embedding(kb_dir, target, mode)

    assert kb.version == 1 and [d["source"] for d in kb.documents()] == ["returns.md"]  # not a mix
    assert "30 days" in kb.search("how long can I return an item", k=1)[0].text
    assert kb.search("Manual 2 step 12 button") == []
    listed = " ".join(CliRunner().invoke(app, ["kb", "versions"]).output.split())
    assert "live version 1;" in listed and "│ 1 │ * │" in listed and "│ 2 │" not in listed

    report = kb.sync(docs, progress=False) if mode == "sync" else kb.add_paths([target], progress=False)
    assert len(report.added) == 4 and report.failed == [] and kb.version == 2
    total = sum(d["chunks"] for d in kb.documents() if d["source"] != "returns.md")
    assert 0 < report.chunks_embedded < total  # what the killed run embedded was kept and reused
    assert not list(kb_dir.glob("tmp-*"))
    assert kb.search("Manual 2 step 12 button", k=3)[0].source == "manual-2.txt"
    days = "14 days" if mode == "sync" else "30 days"
    assert days in kb.search("how long can I return an item", k=1)[0].text
