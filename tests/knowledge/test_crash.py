"""A writer killed mid-ingest (SIGKILL) leaves the previous version live and searchable; a rerun completes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.settings import KnowledgeSettings, RetrievalSettings
from knowledge import KnowledgeBase

# The writer: a real ingest whose embedder pauses after each batch, so the kill surely lands mid-way.
INGEST = """
import sys, time
from pathlib import Path
from knowledge import KnowledgeBase
from core.settings import KnowledgeSettings
from core.settings import RetrievalSettings
from retrieval.embedding import Embedder

class SlowEmbedder(Embedder):
    def encode(self, texts, **kwargs):
        vectors = super().encode(texts, **kwargs)
        time.sleep(2)
        return vectors

settings = RetrievalSettings(chunk_tokens=64, chunk_overlap=0)
embedder = SlowEmbedder(settings.embedding_model)
kb = KnowledgeBase.open(Path(sys.argv[1]), KnowledgeSettings(), settings, embedder)
kb.add_paths([Path(sys.argv[2])], progress=False)
"""


def embedded_count(kb_dir: Path) -> int:
    import sqlite3

    with sqlite3.connect(kb_dir / "catalog.sqlite", timeout=30) as db:
        return db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]


def test_kill_mid_ingest_keeps_old_version_and_rerun_completes(tmp_path, embedder):
    kb_dir, big = tmp_path / "kb", tmp_path / "big"
    kb = KnowledgeBase.open(
        kb_dir, KnowledgeSettings(), RetrievalSettings(chunk_tokens=64, chunk_overlap=0), embedder
    )
    kb.add_document("returns.md", b"# Returns\n\nUnused items can be returned within 30 days of delivery.")
    big.mkdir()
    for n in range(4):  # ~130 chunks, embedded in 64-chunk batches
        (big / f"manual-{n}.txt").write_text(
            " ".join(
                f"Manual {n} step {i}: press the button for {i} seconds until the light turns blue."
                for i in range(120)
            )
        )

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    writer = subprocess.Popen(
        [sys.executable, "-c", INGEST, str(kb_dir), str(big)],
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

    assert kb.version == 1 and [d["source"] for d in kb.documents()] == ["returns.md"]
    assert kb.search("how long can I return an item", k=1)[0].source == "returns.md"

    report = kb.add_paths([big], progress=False)
    assert len(report.added) == 4 and report.failed == [] and kb.version == 2
    total = sum(d["chunks"] for d in kb.documents() if d["source"] != "returns.md")
    assert 0 < report.chunks_embedded < total  # what the killed run embedded was kept and reused
    assert not list(kb_dir.glob("tmp-*"))
    assert "manual-2.txt" in kb.search("Manual 2 step 12 button", k=3)[0].source
