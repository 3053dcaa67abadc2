"""The SQLite catalog: every table and every statement, by column name.

catalog.sqlite (one per knowledge base): embedding cache, version log, chunk-id counter.
meta.sqlite (one per version, immutable once published): that version's documents and chunks.
"""

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.documents import PreparedDocument

CATALOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (model TEXT, hash TEXT, vector BLOB, PRIMARY KEY (model, hash));
CREATE TABLE IF NOT EXISTS versions (version INTEGER PRIMARY KEY, created_at REAL, note TEXT,
                                     documents INTEGER, chunks INTEGER);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER);
"""
# documents.path: the file a document was read from (absolute; NULL for uploads). It is the document's
# identity for sync and never leaves the catalog: citations show `source`, relative to the synced folder.
META_TABLES = """
CREATE TABLE IF NOT EXISTS documents (doc_id TEXT PRIMARY KEY, collection TEXT, source TEXT, title TEXT,
    content_hash TEXT, metadata TEXT, added_at REAL, updated_at REAL, path TEXT);
CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, doc_id TEXT, position INTEGER, text TEXT,
    title TEXT, embed_hash TEXT, tokens TEXT);
"""
META_INDEXES = """
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id);
CREATE INDEX IF NOT EXISTS documents_collection ON documents (collection);
CREATE INDEX IF NOT EXISTS documents_path ON documents (path);
"""
BATCH = 500  # values per IN (...) list, well under SQLite's limit on bound parameters


@dataclass
class StoredDocument:
    doc_id: str
    collection: str
    source: str
    title: str
    content_hash: str
    metadata: dict
    path: str | None


@contextmanager
def connect(path: Path, readonly: bool = False) -> Iterator[sqlite3.Connection]:
    """One transaction; readonly opens a published version, which never changes, without locking."""
    if readonly:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    else:
        db = sqlite3.connect(path, timeout=60)
    db.row_factory = sqlite3.Row
    try:
        with db:
            yield db
    finally:
        db.close()


def _batches(values: list, size: int = BATCH) -> Iterator[tuple[list, str]]:
    for start in range(0, len(values), size):
        batch = values[start : start + size]
        yield batch, ",".join("?" * len(batch))


class Catalog:
    """catalog.sqlite: what outlives a version."""

    def __init__(self, path: Path):
        self.path = path
        with connect(path) as db:
            db.executescript(CATALOG_SCHEMA)

    def last_version(self) -> int:
        with connect(self.path) as db:
            return db.execute("SELECT MAX(version) AS last FROM versions").fetchone()["last"] or 0

    def log_version(self, version: int, note: str, documents: int, chunks: int) -> None:
        with connect(self.path) as db:
            db.execute(
                "INSERT INTO versions (version, created_at, note, documents, chunks) VALUES (?, ?, ?, ?, ?)",
                (version, time.time(), note, documents, chunks),
            )

    def logged_versions(self) -> dict[int, dict]:
        with connect(self.path) as db:
            rows = db.execute("SELECT version, created_at, note, documents, chunks FROM versions")
            return {row["version"]: dict(row) for row in rows}

    def allocate_ids(self, count: int) -> np.ndarray:
        with connect(self.path) as db:
            row = db.execute("SELECT value FROM counters WHERE name = 'chunk_id'").fetchone()
            start = row["value"] if row else 1
            db.execute(
                "INSERT OR REPLACE INTO counters (name, value) VALUES ('chunk_id', ?)", (start + count,)
            )
        return np.arange(start, start + count, dtype=np.int64)

    def cached_vectors(self, model: str, hashes: list[str], dimension: int) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with connect(self.path) as db:
            for batch, marks in _batches(hashes):
                rows = db.execute(
                    f"SELECT hash, vector FROM embeddings WHERE model = ? AND hash IN ({marks})",
                    (model, *batch),
                )
                found.update(
                    (r["hash"], np.frombuffer(r["vector"], dtype=np.float32, count=dimension)) for r in rows
                )
        return found

    def cached_hashes(self, model: str, hashes: list[str]) -> set[str]:
        """Which of these texts the cache holds a vector for."""
        found: set[str] = set()
        with connect(self.path) as db:
            for batch, marks in _batches(hashes):
                rows = db.execute(
                    f"SELECT hash FROM embeddings WHERE model = ? AND hash IN ({marks})", (model, *batch)
                )
                found.update(r["hash"] for r in rows)
        return found

    def cache_vectors(self, model: str, hashes: list[str], vectors: np.ndarray) -> None:
        with connect(self.path) as db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (model, hash, vector) VALUES (?, ?, ?)",
                [(model, h, v.astype(np.float32).tobytes()) for h, v in zip(hashes, vectors)],
            )


# ------------------------------------------------------------------ meta.sqlite: one version's content
def init_meta(db: sqlite3.Connection) -> None:
    """Create the tables, or bring a version written before documents.path up to date."""
    db.executescript(META_TABLES)
    if _legacy(db):
        db.execute("ALTER TABLE documents ADD COLUMN path TEXT")
        db.execute(
            "UPDATE documents SET path = json_extract(metadata, '$.path'), "
            "metadata = json_remove(metadata, '$.path')"
        )
    db.executescript(META_INDEXES)


def _legacy(db: sqlite3.Connection) -> bool:
    """Versions written before documents.path kept the file's path in metadata."""
    return "path" not in {row["name"] for row in db.execute("PRAGMA table_info(documents)")}


def _legacy_aware(db: sqlite3.Connection, alias: str = "d") -> tuple[str, str]:
    """SQL for a document's metadata and path, read the same way from legacy versions."""
    if _legacy(db):
        return f"json_remove({alias}.metadata, '$.path')", f"json_extract({alias}.metadata, '$.path')"
    return f"{alias}.metadata", f"{alias}.path"


def _select_documents(db: sqlite3.Connection, where: str, params: tuple) -> list[sqlite3.Row]:
    metadata, path = _legacy_aware(db)
    return db.execute(
        "SELECT d.doc_id AS doc_id, d.collection AS collection, d.source AS source, d.title AS title, "
        f"d.content_hash AS content_hash, {metadata} AS metadata, d.added_at AS added_at, "
        f"d.updated_at AS updated_at, {path} AS path, "
        "(SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.doc_id) AS chunks "
        f"FROM documents d WHERE {where.format(path=path)} ORDER BY d.collection, d.source",
        params,
    ).fetchall()


def _stored(row: sqlite3.Row) -> StoredDocument:
    return StoredDocument(
        doc_id=row["doc_id"],
        collection=row["collection"],
        source=row["source"],
        title=row["title"],
        content_hash=row["content_hash"],
        metadata=json.loads(row["metadata"]),
        path=row["path"],
    )


def stored_documents(db: sqlite3.Connection, collection: str | None = None) -> list[StoredDocument]:
    return [_stored(row) for row in _select_documents(db, "?1 IS NULL OR d.collection = ?1", (collection,))]


def find_documents(db: sqlite3.Connection, ref: str, path: str) -> list[StoredDocument]:
    """Documents a user named by id, by cited source, or by the file they were read from."""
    rows = _select_documents(db, "d.doc_id = ?1 OR d.source = ?1 OR {path} = ?2", (ref, path))
    return [_stored(row) for row in rows]


def list_documents(db: sqlite3.Connection, collection: str | None) -> list[dict]:
    """What editors see of each document, with its chunk count; its server path stays inside."""
    listed = []
    for row in _select_documents(db, "?1 IS NULL OR d.collection = ?1", (collection,)):
        doc = dict(row)
        del doc["path"]
        listed.append({**doc, "metadata": json.loads(doc["metadata"])})
    return listed


def chunk_ids(db: sqlite3.Connection, doc_ids: list[str]) -> np.ndarray:
    found = []
    for batch, marks in _batches(doc_ids):
        found += [r["id"] for r in db.execute(f"SELECT id FROM chunks WHERE doc_id IN ({marks})", batch)]
    return np.array(found, dtype=np.int64)


def hit_rows(db: sqlite3.Connection, ids: list[int]) -> dict[int, dict]:
    """What a citation needs of each chunk, by chunk id."""
    metadata, _ = _legacy_aware(db)
    rows = {}
    for batch, marks in _batches(ids):
        for row in db.execute(
            "SELECT c.id AS id, c.doc_id AS doc_id, c.text AS text, d.source AS source, c.title AS title, "
            f"c.position AS position, d.collection AS collection, {metadata} AS metadata "
            f"FROM chunks c JOIN documents d ON c.doc_id = d.doc_id WHERE c.id IN ({marks})",
            batch,
        ):
            rows[row["id"]] = {**dict(row), "metadata": json.loads(row["metadata"])}
    return rows


def delete_documents(db: sqlite3.Connection, doc_ids: list[str]) -> tuple[np.ndarray, dict[str, float]]:
    """Delete documents and their chunks; returns the removed chunk ids and when each document was added."""
    removed, added_at = chunk_ids(db, doc_ids), {}
    for batch, marks in _batches(doc_ids):
        rows = db.execute(f"SELECT doc_id, added_at FROM documents WHERE doc_id IN ({marks})", batch)
        added_at.update((r["doc_id"], r["added_at"]) for r in rows)
        db.execute(f"DELETE FROM chunks WHERE doc_id IN ({marks})", batch)
        db.execute(f"DELETE FROM documents WHERE doc_id IN ({marks})", batch)
    return removed, added_at


def insert_documents(
    db: sqlite3.Connection, docs: list[PreparedDocument], ids: Iterable[int], added_at: dict[str, float]
) -> None:
    """Insert documents and their chunks, the chunks numbered from `ids` in order."""
    now = time.time()
    db.executemany(
        "INSERT INTO documents (doc_id, collection, source, title, content_hash, metadata, added_at, "
        "updated_at, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                d.path,
            )
            for d in docs
        ],
    )
    chunks = [(doc, position, chunk) for doc in docs for position, chunk in enumerate(doc.chunks)]
    db.executemany(
        "INSERT INTO chunks (id, doc_id, position, text, title, embed_hash, tokens) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (int(cid), doc.doc_id, position, c.text, c.title, c.embed_hash, " ".join(c.tokens))
            for cid, (doc, position, c) in zip(ids, chunks)
        ],
    )


def counts(db: sqlite3.Connection) -> tuple[int, int]:
    row = db.execute(
        "SELECT (SELECT COUNT(*) FROM documents) AS documents, (SELECT COUNT(*) FROM chunks) AS chunks"
    ).fetchone()
    return row["documents"], row["chunks"]


def chunk_hashes(db: sqlite3.Connection) -> list[tuple[int, str]]:
    """(chunk id, embedding-text hash) of every chunk, by id."""
    return [(r["id"], r["embed_hash"]) for r in db.execute("SELECT id, embed_hash FROM chunks ORDER BY id")]


def chunk_texts(db: sqlite3.Connection) -> Iterator[tuple[str, str, str]]:
    """(embedding-text hash, title, text) of every chunk."""
    for row in db.execute("SELECT embed_hash, title, text FROM chunks"):
        yield row["embed_hash"], row["title"], row["text"]


def chunk_tokens(db: sqlite3.Connection) -> list[tuple[int, list[str]]]:
    """(chunk id, BM25 tokens) of every chunk, by id."""
    rows = db.execute("SELECT id, tokens FROM chunks ORDER BY id")
    return [(r["id"], r["tokens"].split(" ") if r["tokens"] else []) for r in rows]
