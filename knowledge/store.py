"""On-disk layout of a knowledge base, and the pieces that make its changes atomic.

kb/catalog.sqlite   embedding cache (by model and chunk-text hash), version log, chunk-id counter
kb/versions/vNNNNNN one immutable folder per version: meta.sqlite (documents + chunks), dense.faiss, sparse/
kb/LIVE             the live version's name, replaced atomically (write tmp, fsync, os.replace)
kb/write.lock       one writer at a time; readers never take it
"""

import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from retrieval.errors import RagtuneError

CATALOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (model TEXT, hash TEXT, vector BLOB, PRIMARY KEY (model, hash));
CREATE TABLE IF NOT EXISTS versions (version INTEGER PRIMARY KEY, created_at REAL, note TEXT,
                                     documents INTEGER, chunks INTEGER);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER);
"""
META_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (doc_id TEXT PRIMARY KEY, collection TEXT, source TEXT, title TEXT,
    content_hash TEXT, metadata TEXT, added_at REAL, updated_at REAL);
CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, doc_id TEXT, position INTEGER, text TEXT,
    title TEXT, embed_hash TEXT, tokens TEXT);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id);
CREATE INDEX IF NOT EXISTS documents_collection ON documents (collection);
"""


def version_name(version: int) -> str:
    return f"v{version:06d}"


def fsync_tree(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Store:
    def __init__(self, root: Path, lock_timeout_s: float):
        self.root = root
        self.versions_dir = root / "versions"
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        self.lock_timeout_s = lock_timeout_s
        with self.catalog() as db:
            db.executescript(CATALOG_SCHEMA)

    @contextmanager
    def catalog(self):
        db = sqlite3.connect(self.root / "catalog.sqlite", timeout=60)
        try:
            with db:
                yield db
        finally:
            db.close()

    # -- the live pointer (readers: one small file read per search) --
    def live_version(self) -> int:
        try:
            return int((self.root / "LIVE").read_text().strip().lstrip("v"))
        except (FileNotFoundError, ValueError):
            return 0

    def folder(self, version: int) -> Path:
        return self.versions_dir / version_name(version)

    def set_live(self, version: int) -> None:
        tmp = self.root / f"LIVE.tmp-{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(version_name(version))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / "LIVE")

    # -- writing --
    @contextmanager
    def writer(self):
        lock = FileLock(self.root / "write.lock")
        try:
            lock.acquire(timeout=self.lock_timeout_s)
        except Timeout:
            raise RagtuneError(
                f"knowledge base {self.root}: another process is changing it "
                f"(lock {self.root / 'write.lock'}); gave up after waiting {self.lock_timeout_s:g}s "
                "(knowledge.lock_timeout_s). Try again when it is done."
            ) from None
        try:
            for stale in self.root.glob("tmp-*"):  # left by a writer that was killed: never went live
                shutil.rmtree(stale, ignore_errors=True)
            yield
        finally:
            lock.release()

    def new_workspace(self) -> Path:
        work = self.root / f"tmp-{os.getpid()}-{time.monotonic_ns()}"
        work.mkdir()
        base = self.folder(self.live_version()) / "meta.sqlite"
        if self.live_version() and base.exists():
            shutil.copyfile(base, work / "meta.sqlite")
        with sqlite3.connect(work / "meta.sqlite") as db:
            db.executescript(META_SCHEMA)
        return work

    def publish(self, work: Path, note: str, documents: int, chunks: int, keep: int) -> int:
        """Move a finished workspace into place as the next version, make it live, prune old ones."""
        with self.catalog() as db:
            last = db.execute("SELECT MAX(version) FROM versions").fetchone()[0] or 0
        on_disk = [int(p.name[1:]) for p in self.versions_dir.glob("v*") if p.name[1:].isdigit()]
        version = max([last, *on_disk]) + 1
        fsync_tree(work)
        os.replace(work, self.folder(version))
        self.set_live(version)
        with self.catalog() as db:
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?)", (version, time.time(), note, documents, chunks)
            )
        self.prune(keep)
        return version

    def prune(self, keep: int) -> None:
        live = self.live_version()
        names = sorted(p.name for p in self.versions_dir.glob("v*"))
        for name in names[: max(0, len(names) - max(keep, 1))]:
            if name != version_name(live):
                shutil.rmtree(self.versions_dir / name, ignore_errors=True)

    def allocate_ids(self, count: int) -> np.ndarray:
        with self.catalog() as db:
            row = db.execute("SELECT value FROM counters WHERE name = 'chunk_id'").fetchone()
            start = row[0] if row else 1
            db.execute("INSERT OR REPLACE INTO counters VALUES ('chunk_id', ?)", (start + count,))
        return np.arange(start, start + count, dtype=np.int64)

    # -- embedding cache: a chunk whose text did not change is never embedded again --
    def cached_vectors(self, model: str, hashes: list[str], dimension: int) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self.catalog() as db:
            for start in range(0, len(hashes), 500):
                batch = hashes[start : start + 500]
                marks = ",".join("?" * len(batch))
                rows = db.execute(
                    f"SELECT hash, vector FROM embeddings WHERE model = ? AND hash IN ({marks})",
                    (model, *batch),
                )
                found.update((h, np.frombuffer(v, dtype=np.float32, count=dimension)) for h, v in rows)
        return found

    def cache_vectors(self, model: str, hashes: list[str], vectors: np.ndarray) -> None:
        with self.catalog() as db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                [(model, h, v.astype(np.float32).tobytes()) for h, v in zip(hashes, vectors)],
            )
