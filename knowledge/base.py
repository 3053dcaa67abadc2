"""The knowledge base as editors and the server see it: documents in, versions out, hybrid search over
the live one."""

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from knowledge.config import KnowledgeSettings
from knowledge.documents import (
    PreparedDocument,
    chunk_document,
    content_hash,
    embed_text,
    file_key,
    make_doc_id,
)
from knowledge.loaders import load, supported
from knowledge.store import Store
from retrieval.config import RetrievalSettings
from retrieval.dense import DenseIndex
from retrieval.embedding import Embedder
from retrieval.errors import RagtuneError
from retrieval.hybrid import Reranker, check_query, hybrid_search
from retrieval.sparse import SparseIndex
from retrieval.splitting import Splitter
from retrieval.types import Hit

EMBED_BATCH = 64


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    skipped: list[str] = field(default_factory=list)  # unsupported files found in folders
    chunks_embedded: int = 0
    version: int | None = None  # the new live version, None when nothing changed


@dataclass
class LiveIndex:
    version: int
    folder: Path
    dense: DenseIndex
    sparse: SparseIndex

    @contextmanager
    def meta(self) -> Iterator[sqlite3.Connection]:
        """Read-only: the version folder never changes once published."""
        db = sqlite3.connect(f"file:{self.folder / 'meta.sqlite'}?mode=ro&immutable=1", uri=True)
        try:
            yield db
        finally:
            db.close()


class KnowledgeBase:
    def __init__(
        self,
        kb_dir: Path,
        knowledge: KnowledgeSettings,
        retrieval: RetrievalSettings,
        embedder: Embedder | None = None,
    ):
        self.settings, self.retrieval = knowledge, retrieval
        self.store = Store(Path(kb_dir), knowledge.lock_timeout_s)
        self._embedder = embedder
        self._splitter: Splitter | None = None
        self._reranker: Reranker | None = None
        self._live: LiveIndex | None = None
        self._reload = threading.Lock()
        self._model_load = threading.Lock()  # concurrent first searches load the embedder once

    @classmethod
    def open(
        cls,
        kb_dir: Path,
        knowledge: KnowledgeSettings,
        retrieval: RetrievalSettings,
        embedder: Embedder | None = None,
    ) -> "KnowledgeBase":
        return cls(kb_dir, knowledge, retrieval, embedder)

    @property
    def embedder(self) -> Embedder:
        with self._model_load:
            if self._embedder is None:
                self._embedder = Embedder(self.retrieval.embedding_model)
        return self._embedder

    @property
    def splitter(self) -> Splitter:
        if self._splitter is None:
            self._splitter = Splitter(
                self.embedder.tokenizer, self.retrieval.chunk_tokens, self.retrieval.chunk_overlap
            )
        return self._splitter

    @property
    def version(self) -> int:
        return self.store.live_version()

    # ---------------------------------------------------------------- reading
    def _current(self) -> LiveIndex | None:
        """The live version, reloaded when another process has published a newer one (one small file read)."""
        version = self.store.live_version()
        if self._live is None or self._live.version != version:
            with self._reload:
                if self._live is not None and self._live.version == version:
                    return self._live  # another search loaded it while this one waited
                if version == 0:
                    return None
                folder = self.store.folder(version)
                info = json.loads((folder / "info.json").read_text())
                if info["model"] != self.retrieval.embedding_model:
                    raise RagtuneError(
                        f"knowledge base {self.store.root}: version {version} was embedded with "
                        f"{info['model']!r} but retrieval.embedding_model is "
                        f"{self.retrieval.embedding_model!r}; "
                        "set it back, or run any change (kb add / sync) to re-embed with the new model"
                    )
                self._live = LiveIndex(
                    version,
                    folder,
                    DenseIndex.load(folder / "dense.faiss", info["index_type"]),
                    SparseIndex.load(folder / "sparse"),
                )
        return self._live

    def search(
        self,
        query: str,
        k: int | None = None,
        collection: str | None = None,
        filters: dict | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Ranked chunks of the live version; [] when nothing in the knowledge base is relevant enough."""
        k = k or self.retrieval.top_k
        check_query(query, self.retrieval)
        live = self._current()
        if live is None:
            return []
        with live.meta() as db:
            allowed = self._allowed_ids(db, collection, filters)
            if allowed is not None and not len(allowed):
                return []
            pool = k * 3 if self.retrieval.reranker_model else k
            found = hybrid_search(
                query, self.embedder, live.dense, live.sparse, self.retrieval, pool, allowed, mode
            )
            hits = self._hits(db, found)
        if self.retrieval.reranker_model and hits:
            with self._model_load:
                self._reranker = self._reranker or Reranker(self.retrieval.reranker_model)
            for hit, score in zip(hits, self._reranker.scores(query, [h.text for h in hits])):
                hit.rerank_score = score
            hits.sort(key=lambda h: h.rerank_score, reverse=True)
        return hits[:k]

    @staticmethod
    def _allowed_ids(
        db: sqlite3.Connection, collection: str | None, filters: dict | None
    ) -> np.ndarray | None:
        if collection is None and not filters:
            return None
        docs = []
        for doc_id, coll, title, source, metadata in db.execute(
            "SELECT doc_id, collection, title, source, metadata FROM documents"
        ):
            fields = {**json.loads(metadata), "title": title, "source": source, "collection": coll}
            if (collection is None or coll == collection) and all(
                _matches(fields.get(key), value) for key, value in (filters or {}).items()
            ):
                docs.append(doc_id)
        marks = ",".join("?" * len(docs))
        rows = db.execute(f"SELECT id FROM chunks WHERE doc_id IN ({marks})", docs).fetchall() if docs else []
        return np.array([r[0] for r in rows], dtype=np.int64)

    @staticmethod
    def _hits(db: sqlite3.Connection, found) -> list[Hit]:
        if not found:
            return []
        marks = ",".join("?" * len(found))
        rows = {
            row[0]: row
            for row in db.execute(
                "SELECT c.id, c.doc_id, c.text, d.source, c.title, c.position, d.collection, d.metadata "
                f"FROM chunks c JOIN documents d ON c.doc_id = d.doc_id WHERE c.id IN ({marks})",
                [c.id for c in found],
            )
        }
        return [
            Hit(str(c.id), r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), c.dense, c.sparse, c.score)
            for c in found
            if (r := rows.get(c.id))
        ]

    def documents(self, collection: str | None = None) -> list[dict]:
        live = self._current()
        if live is None:
            return []
        with live.meta() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT d.*, (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.doc_id) AS chunks "
                "FROM documents d WHERE ?1 IS NULL OR collection = ?1 ORDER BY collection, source",
                (collection,),
            ).fetchall()
        return [{**dict(r), "metadata": json.loads(r["metadata"])} for r in rows]

    def versions(self) -> list[dict]:
        live = self.version
        with self.store.catalog() as db:
            rows = db.execute(
                "SELECT version, created_at, note, documents, chunks FROM versions ORDER BY version"
            )
            logged = {r[0]: r for r in rows}
        kept = sorted(int(p.name[1:]) for p in self.store.versions_dir.glob("v*") if p.name[1:].isdigit())
        return [
            {
                "version": v,
                "created_at": logged[v][1] if v in logged else None,
                "note": logged.get(v, (0, 0, ""))[2],
                "documents": logged[v][3] if v in logged else None,
                "chunks": logged[v][4] if v in logged else None,
                "live": v == live,
            }
            for v in kept
        ]

    # ---------------------------------------------------------------- writing
    def rollback(self, version: int) -> None:
        with self.store.writer():
            if not (self.store.folder(version) / "info.json").exists():
                kept = [v["version"] for v in self.versions()]
                raise RagtuneError(f"rollback: version {version} does not exist or was pruned (kept: {kept})")
            self.store.set_live(version)

    def remove(self, doc_id: str) -> None:
        known = {d["doc_id"]: d for d in self.documents()}
        if doc_id not in known:
            by_source = [d for d in known.values() if d["source"] in (doc_id, file_key(Path(doc_id)))]
            if not by_source:
                raise RagtuneError(
                    f"remove: no document {doc_id!r} in the knowledge base (see `ragtune kb list`)"
                )
            doc_id = by_source[0]["doc_id"]
        self._commit([], [doc_id], f"remove {known[doc_id]['source']}", progress=False)

    def add_document(
        self,
        filename: str,
        data: bytes,
        collection: str | None = None,
        metadata: dict | None = None,
        doc_id: str | None = None,
    ) -> str:
        """Index uploaded bytes; the type comes from the extension, the name is never used as a path."""
        collection = collection or self.settings.default_collection
        name = Path(filename).name
        metadata = dict(metadata or {})
        doc = self._prepare(
            name, data, collection, metadata, doc_id or make_doc_id(collection, f"upload:{name}")
        )
        self._commit([doc], [], f"add {name}", progress=False)
        return doc.doc_id

    def add_paths(
        self,
        paths: list[Path],
        collection: str | None = None,
        progress: bool = True,
        metadata: dict | None = None,
    ) -> IngestReport:
        """Index files and folders; a file that cannot be read is reported and skipped, the rest go in."""
        collection = collection or self.settings.default_collection
        report = IngestReport()
        files = self._expand([Path(p) for p in paths], report)
        self._ingest(files, collection, metadata or {}, report, [], progress, f"add {len(files)} file(s)")
        return report

    def sync(self, folder: Path, collection: str | None = None, progress: bool = True) -> IngestReport:
        """Make the collection mirror a folder: new and changed files indexed, files gone from it removed."""
        folder = Path(folder)
        if not folder.is_dir():
            raise RagtuneError(f"sync: {folder} is not a folder")
        collection = collection or self.settings.default_collection
        report = IngestReport()
        files = self._expand([folder], report)
        present = {file_key(f) for f in files}
        root = file_key(folder).rstrip("/") + "/"
        gone = [
            d
            for d in self.documents(collection)
            if d["metadata"].get("path", "").startswith(root) and d["metadata"]["path"] not in present
        ]
        report.removed = [d["source"] for d in gone]
        self._ingest(files, collection, {}, report, [d["doc_id"] for d in gone], progress, f"sync {folder}")
        return report

    def _expand(self, paths: list[Path], report: IngestReport) -> list[Path]:
        files = []
        for path in paths:
            if path.is_dir():
                for found in sorted(p for p in path.rglob("*") if p.is_file()):
                    if any(part.startswith(".") for part in found.relative_to(path).parts):
                        continue
                    (files if supported(found.name) else report.skipped).append(found)
            elif path.is_file():
                if supported(path.name):
                    files.append(path)
                else:
                    report.failed.append((str(path), f"unsupported file type {path.suffix or '(none)'!r}"))
            else:
                report.failed.append((str(path), "no such file or folder"))
        report.skipped = [str(p) for p in report.skipped]
        return files

    def _ingest(
        self,
        files: list[Path],
        collection: str,
        metadata: dict,
        report: IngestReport,
        removals: list[str],
        progress: bool,
        note: str,
    ) -> None:
        existing = {d["doc_id"]: d for d in self.documents()}
        upserts = []
        for path in tqdm(files, desc="reading", unit="file", disable=not progress or len(files) < 2):
            try:
                if path.stat().st_size > self.settings.max_file_mb * 2**20:
                    raise RagtuneError(
                        f"{path}: larger than {self.settings.max_file_mb} MB (knowledge.max_file_mb)"
                    )
                data = path.read_bytes()
                doc_id = make_doc_id(collection, file_key(path))
                old = existing.get(doc_id)
                # what an earlier `kb add` gave the file (tags, url, title) stays unless given anew
                meta = {**(old["metadata"] if old else {}), **metadata, "path": file_key(path)}
                if old and old["content_hash"] == content_hash(data, meta):
                    report.unchanged.append(str(path))
                    continue
                upserts.append(self._prepare(str(path), data, collection, meta, doc_id))
                (report.updated if old else report.added).append(str(path))
            except (RagtuneError, OSError) as err:
                reason = str(err).removeprefix(f"{path}: ")
                report.failed.append((str(path), reason))
        if upserts or removals:
            report.version, report.chunks_embedded = self._commit(upserts, removals, note, progress)

    def _prepare(
        self, name: str, data: bytes, collection: str, metadata: dict, doc_id: str
    ) -> PreparedDocument:
        loaded = load(name, data)
        title = metadata.get("title") or loaded.title
        source = metadata.get("url") or metadata.get("path") or Path(name).name
        doc = PreparedDocument(doc_id, collection, source, title, content_hash(data, metadata), metadata)
        doc.chunks = chunk_document(loaded, title, self.splitter)
        if not doc.chunks:
            raise RagtuneError(f"{name}: no text found")
        return doc

    def _commit(
        self, upserts: list[PreparedDocument], removals: list[str], note: str, progress: bool
    ) -> tuple[int, int]:
        """Write the next version beside the live one and switch to it; returns (version, chunks embedded)."""
        with self.store.writer():
            work = self.store.new_workspace()
            db = sqlite3.connect(work / "meta.sqlite")
            with db:
                gone = [doc.doc_id for doc in upserts] + removals
                marks = ",".join("?" * len(gone))
                removed_ids = np.array(
                    [r[0] for r in db.execute(f"SELECT id FROM chunks WHERE doc_id IN ({marks})", gone)],
                    dtype=np.int64,
                )
                added_at = dict(
                    db.execute(f"SELECT doc_id, added_at FROM documents WHERE doc_id IN ({marks})", gone)
                )
                db.execute(f"DELETE FROM chunks WHERE doc_id IN ({marks})", gone)
                db.execute(f"DELETE FROM documents WHERE doc_id IN ({marks})", gone)
                new_chunks = [(doc, pos, chunk) for doc in upserts for pos, chunk in enumerate(doc.chunks)]
                new_ids = self.store.allocate_ids(len(new_chunks))
                now = time.time()
                db.executemany(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            d.doc_id,
                            d.collection,
                            d.source,
                            d.title,
                            d.content_hash,
                            json.dumps(d.metadata, ensure_ascii=False),
                            added_at.get(d.doc_id, now),
                            now,
                        )
                        for d in upserts
                    ],
                )
                db.executemany(
                    "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (int(cid), doc.doc_id, pos, c.text, c.title, c.embed_hash, " ".join(c.tokens))
                        for cid, (doc, pos, c) in zip(new_ids, new_chunks)
                    ],
                )
            hashes = [c.embed_hash for _, _, c in new_chunks]
            vectors, embedded = self._vectors(hashes, [c.embed_text for _, _, c in new_chunks], progress)
            self._build_indexes(db, work, removed_ids, new_ids, vectors, progress)
            documents, chunks = db.execute(
                "SELECT (SELECT COUNT(*) FROM documents), COUNT(*) FROM chunks"
            ).fetchone()
            db.close()
            version = self.store.publish(work, note, documents, chunks, self.settings.keep_versions)
        return version, embedded

    def _vectors(self, hashes: list[str], texts: list[str], progress: bool) -> tuple[np.ndarray, int]:
        """Vectors for these chunk texts: from the cache when the text was embedded before, else embedded now
        (and cached batch by batch, so a killed run resumes where it stopped)."""
        model, dim = self.retrieval.embedding_model, self.embedder.dimension
        cached = self.store.cached_vectors(model, hashes, dim)
        missing = [i for i, h in enumerate(hashes) if h not in cached]
        bar = tqdm(total=len(missing), desc="embedding", unit="chunk", disable=not progress or not missing)
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start : start + EMBED_BATCH]
            vectors = self.embedder.encode([texts[i] for i in batch], batch_size=EMBED_BATCH)
            self.store.cache_vectors(model, [hashes[i] for i in batch], vectors)
            cached.update(zip((hashes[i] for i in batch), vectors))
            bar.update(len(batch))
        bar.close()
        out = np.stack([cached[h] for h in hashes]) if hashes else np.zeros((0, dim), dtype=np.float32)
        return out, len(missing)

    def _build_indexes(
        self,
        db: sqlite3.Connection,
        work: Path,
        removed_ids: np.ndarray,
        new_ids: np.ndarray,
        vectors: np.ndarray,
        progress: bool,
    ) -> None:
        """Dense: the live flat index minus removed plus added chunks; rebuilt from cached vectors when HNSW,
        on a first version or a changed setting. Sparse: rebuilt from the stored tokens (no re-tokenising)."""
        r = self.retrieval
        info = {"index_type": r.index_type, "model": r.embedding_model, "dimension": self.embedder.dimension}
        base = self.store.folder(self.store.live_version())
        base_info = json.loads((base / "info.json").read_text()) if (base / "info.json").exists() else None
        if base_info == info and r.index_type == "flat":
            dense = DenseIndex.load(base / "dense.faiss", r.index_type)
            dense.remove(removed_ids)
            dense.add(new_ids, vectors)
        else:
            rows = db.execute("SELECT id, embed_hash FROM chunks ORDER BY id").fetchall()
            cached = self.store.cached_vectors(
                r.embedding_model, [h for _, h in rows], self.embedder.dimension
            )
            missing = [h for _, h in rows if h not in cached]
            if missing:  # the model changed since these chunks were embedded
                texts = {
                    h: embed_text(title, text)
                    for h, title, text in db.execute("SELECT embed_hash, title, text FROM chunks")
                }
                vecs, _ = self._vectors(missing, [texts[h] for h in missing], progress)
                cached.update(zip(missing, vecs))
            dense = DenseIndex.create(self.embedder.dimension, r.index_type, r.hnsw_m, r.hnsw_ef_construction)
            dense.add(
                np.array([i for i, _ in rows], dtype=np.int64),
                np.stack([cached[h] for _, h in rows]) if rows else np.zeros((0, self.embedder.dimension)),
            )
        dense.save(work / "dense.faiss")
        rows = db.execute("SELECT id, tokens FROM chunks ORDER BY id").fetchall()
        SparseIndex.build([i for i, _ in rows], [t.split(" ") if t else [] for _, t in rows]).save(
            work / "sparse"
        )
        (work / "info.json").write_text(json.dumps(info))


def _matches(have, want) -> bool:
    """A filter value matches a field equal to it, or a list field containing it (tags)."""
    if isinstance(have, list):
        return want in have or (isinstance(want, list) and set(want) <= set(have))
    return have is not None and str(have) == str(want)
