"""On-disk layout of a knowledge base, and the pieces that make its changes atomic.

kb/catalog.sqlite   embedding cache (by model and chunk-text hash), version log, chunk-id counter
kb/versions/vNNNNNN one immutable folder per version: meta.sqlite (documents + chunks), dense.faiss, sparse/
kb/LIVE             the live version's name, replaced atomically (write tmp, fsync, os.replace)
kb/write.lock       one writer at a time (or a PostgreSQL advisory lock: knowledge/locking.py); readers
                    never take it
kb/tmp-*            a version being built, or an old one being deleted; never read, removed by the next writer
"""

import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from knowledge import catalog
from knowledge.catalog import Catalog
from knowledge.locking import write_atomic, write_lock


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
    def __init__(self, root: Path, lock_timeout_s: float, lock_url: str | None = None):
        self.root = root
        self.versions_dir = root / "versions"
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        self.lock_timeout_s, self.lock_url = lock_timeout_s, lock_url
        self.catalog = Catalog(root / "catalog.sqlite")

    # -- the live pointer (readers: one small file read per search) --
    def live_version(self) -> int:
        try:
            return int((self.root / "LIVE").read_text().strip().lstrip("v"))
        except (FileNotFoundError, ValueError):
            return 0

    def folder(self, version: int) -> Path:
        return self.versions_dir / version_name(version)

    def kept_versions(self) -> list[int]:
        """Versions on disk, oldest first; each is complete (it only appears by an atomic rename)."""
        names = (p.name[1:] for p in self.versions_dir.glob("v*"))
        return sorted(int(n) for n in names if n.isdigit())

    @contextmanager
    def live_meta(self) -> Iterator[sqlite3.Connection | None]:
        """The live version's documents and chunks, read-only; None before the first version."""
        version = self.live_version()
        if not version:
            yield None
            return
        with catalog.connect(self.folder(version) / "meta.sqlite", readonly=True) as db:
            yield db

    def set_live(self, version: int) -> None:
        write_atomic(self.root / "LIVE", version_name(version).encode())

    # -- writing --
    @contextmanager
    def writer(self) -> Iterator[None]:
        lock = self.root / "write.lock"
        with write_lock(lock, self.lock_timeout_s, f"knowledge base {self.root}", self.lock_url):
            for stale in self.root.glob("tmp-*"):  # left by a writer that was killed: never went live
                shutil.rmtree(stale, ignore_errors=True)
            yield

    def new_workspace(self) -> Path:
        """A folder for the next version, starting from a copy of the live version's documents."""
        work = self.root / f"tmp-{os.getpid()}-{time.monotonic_ns()}"
        work.mkdir()
        live = self.folder(self.live_version()) / "meta.sqlite"
        if self.live_version() and live.exists():
            shutil.copyfile(live, work / "meta.sqlite")
        with catalog.connect(work / "meta.sqlite") as db:
            catalog.init_meta(db)
        return work

    def publish(self, work: Path, note: str, documents: int, chunks: int, keep: int) -> int:
        """Move a finished workspace into place as the next version, make it live, prune old ones."""
        version = max([self.catalog.last_version(), *self.kept_versions()]) + 1
        fsync_tree(work)
        os.replace(work, self.folder(version))
        self.set_live(version)
        self.catalog.log_version(version, note, documents, chunks)
        self.prune(keep)
        return version

    def prune(self, keep: int) -> None:
        """Delete all but the newest `keep` versions (never the live one). Each is first renamed out of
        versions/ at once, so a kill mid-delete cannot leave a half-deleted version to roll back to."""
        live = self.live_version()
        kept = self.kept_versions()
        for version in kept[: max(0, len(kept) - max(keep, 1))]:
            if version != live:
                doomed = self.root / f"tmp-pruned-{version_name(version)}"
                os.replace(self.folder(version), doomed)
                shutil.rmtree(doomed, ignore_errors=True)
