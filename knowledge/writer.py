"""The write path: add, replace, remove and sync documents. Each change is planned against the live
version under the writer lock, built in a workspace beside it and published as the next version."""

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from core.errors import ConflictError, NotFoundError, RagtuneError
from core.settings import KnowledgeSettings, RetrievalSettings
from knowledge import catalog
from knowledge.catalog import StoredDocument
from knowledge.documents import PreparedDocument, cited_source, content_hash, make_doc_id, prepare
from knowledge.files import Found, SourceFile, given, sync_scope, walk
from knowledge.indexing import Indexer
from knowledge.models import Models
from knowledge.store import Store
from retrieval.splitting import Splitter


@dataclass
class IngestReport:
    """What a change did (or, for a dry run, would do); files are named as given, or relative to the
    synced folder's root for a sync."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    skipped: list[str] = field(default_factory=list)  # unsupported files found in folders
    chunks_embedded: int = 0
    version: int | None = None  # the new live version, None when nothing changed
    previous_version: int | None = None  # live before the change: `kb rollback` to it undoes the change
    dry_run: bool = False


class Writer:
    def __init__(
        self, store: Store, settings: KnowledgeSettings, retrieval: RetrievalSettings, models: Models
    ):
        self.store, self.settings, self.models = store, settings, models
        self.indexer = Indexer(store, retrieval, models)

    def add_document(
        self,
        filename: str,
        data: bytes,
        collection: str | None = None,
        metadata: dict | None = None,
        doc_id: str | None = None,
    ) -> str:
        """Index uploaded bytes (replacing doc_id when given); the name only picks the loader and is cited."""
        collection = collection or self.settings.default_collection
        name = Path(filename).name
        with self.store.writer():
            doc = prepare(
                name,
                data,
                doc_id=doc_id or make_doc_id(collection, f"upload:{name}"),
                collection=collection,
                source=name,
                metadata=dict(metadata or {}),
                path=None,
                splitter=self.models.splitter(),
                limits=self.settings,
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
        found, report = given([Path(p) for p in paths]), IngestReport()
        with self.store.writer():
            stored = self._stored(collection)
            note = f"add {len(found.files)} file(s)"
            self._ingest(found, collection, metadata or {}, stored, [], report, progress, note)
        return report

    def sync(
        self,
        folder: Path,
        collection: str | None = None,
        progress: bool = True,
        roots: list[Path] | None = None,
        dry_run: bool = False,
        allow_mass_removal: bool = False,
    ) -> IngestReport:
        """Make the collection mirror a folder: new and changed files indexed, files gone from it removed.
        roots: the folders a sync may reach (None: any, for the CLI). A sync that would remove all, or more
        than knowledge.max_sync_removal_share, of the folder's documents is refused unless allowed."""
        folder, collection = Path(folder), collection or self.settings.default_collection
        resolved, root = sync_scope(folder, roots)
        found, report = walk(resolved, root), IngestReport(dry_run=dry_run)
        with self.store.writer():
            stored = self._stored(collection)
            under = [d for d in stored if d.path and Path(d.path).is_relative_to(resolved)]
            if not resolved.is_dir() and not under:
                raise NotFoundError(f"sync: {folder} is not a folder")
            present = {f.key for f in found.files}
            gone = [d for d in under if d.path not in present]
            self._check_removals(
                folder, collection, len(gone), len(under), bool(found.files), allow_mass_removal
            )
            report.removed = [d.source for d in gone]
            removals = [d.doc_id for d in gone]
            self._ingest(found, collection, {}, stored, removals, report, progress, f"sync {folder}")
        return report

    def remove(self, ref: str) -> None:
        """Remove one document, named by its id, its cited source or the file it was read from."""
        with self.store.writer():
            with self.store.live_meta() as db:
                found = catalog.find_documents(db, ref, str(Path(ref).resolve())) if db else []
            matches = [d for d in found if d.doc_id == ref] or found
            if not matches:
                raise NotFoundError(
                    f"remove: no document {ref!r} in the knowledge base (see `ragtune kb list`)"
                )
            if len(matches) > 1:
                ids = ", ".join(d.doc_id for d in matches)
                raise ConflictError(
                    f"remove: {ref!r} names {len(matches)} documents ({ids}); remove one by id"
                )
            self._commit([], [matches[0].doc_id], f"remove {matches[0].source}", progress=False)

    # ---------------------------------------------------------------- under the writer lock
    def _stored(self, collection: str) -> list[StoredDocument]:
        with self.store.live_meta() as db:
            return catalog.stored_documents(db, collection) if db else []

    def _check_removals(
        self, folder: Path, collection: str, gone: int, under: int, has_files: bool, allowed: bool
    ) -> None:
        share = self.settings.max_sync_removal_share
        if not gone or allowed or (has_files and gone <= share * under):
            return
        why = "the folder is missing or empty" if not has_files else f"more than {share:.0%} of them"
        raise ConflictError(
            f"sync {folder}: would remove {gone} of the {under} document(s) synced from it into collection "
            f"{collection!r} ({why}); nothing was changed. If that is intended, run again with "
            "--allow-mass-removal (admin API: allow_mass_removal); --dry-run lists what would change. "
            f"`ragtune kb rollback` undoes a change (the last {self.settings.keep_versions} versions are kept)."
        )

    def _ingest(
        self,
        found: Found,
        collection: str,
        metadata: dict,
        stored: list[StoredDocument],
        removals: list[str],
        report: IngestReport,
        progress: bool,
        note: str,
    ) -> None:
        report.skipped = [f.name for f in found.skipped]
        report.failed = [(f.name, why) for f, why in found.refused]
        existing = {d.doc_id: d for d in stored}
        splitter, upserts = self.models.splitter(), []
        quiet = not progress or len(found.files) < 2
        for file in tqdm(found.files, desc="reading", unit="file", disable=quiet):
            try:
                doc = self._read(file, collection, metadata, existing, splitter)
            except (RagtuneError, OSError) as err:
                report.failed.append((file.name, _reason(err, file.name)))
                continue
            if doc is None:
                report.unchanged.append(file.name)
            else:
                upserts.append(doc)
                (report.updated if doc.doc_id in existing else report.added).append(file.name)
        if (upserts or removals) and not report.dry_run:
            report.previous_version = self.store.live_version() or None
            report.version, report.chunks_embedded = self._commit(upserts, removals, note, progress)

    def _read(
        self,
        file: SourceFile,
        collection: str,
        metadata: dict,
        existing: dict[str, StoredDocument],
        splitter: Splitter,
    ) -> PreparedDocument | None:
        """The file's document, or None when it is unchanged."""
        if file.path.stat().st_size > self.settings.max_file_mb * 2**20:
            raise RagtuneError(
                f"{file.name}: larger than {self.settings.max_file_mb} MB (knowledge.max_file_mb)"
            )
        data = file.path.read_bytes()
        doc_id = make_doc_id(collection, file.key)
        old = existing.get(doc_id)
        # what an earlier `kb add` gave the file (tags, url, title) stays unless given anew
        meta = {**(old.metadata if old else {}), **metadata}
        unchanged = old and old.content_hash == content_hash(data, meta)
        if unchanged and old.source == cited_source(meta, file.source):
            return None
        return prepare(
            file.name,
            data,
            doc_id=doc_id,
            collection=collection,
            source=file.source,
            metadata=meta,
            path=file.key,
            splitter=splitter,
            limits=self.settings,
        )

    def _commit(
        self, upserts: list[PreparedDocument], removals: list[str], note: str, progress: bool
    ) -> tuple[int, int]:
        """Write the next version beside the live one and switch to it; returns (version, chunks embedded)."""
        work = self.store.new_workspace()
        with catalog.connect(work / "meta.sqlite") as db:
            embedded = self._fill(db, work, upserts, removals, progress)
            documents, chunks = catalog.counts(db)
        return self.store.publish(work, note, documents, chunks, self.settings.keep_versions), embedded

    def _fill(
        self,
        db: sqlite3.Connection,
        work: Path,
        upserts: list[PreparedDocument],
        removals: list[str],
        progress: bool,
    ) -> int:
        """Apply the changes to the workspace and build its indexes; returns how many chunks were embedded."""
        removed_ids, added_at = catalog.delete_documents(db, [d.doc_id for d in upserts] + removals)
        new_ids = self.store.catalog.allocate_ids(sum(len(d.chunks) for d in upserts))
        catalog.insert_documents(db, upserts, new_ids, added_at)
        chunks = [c for d in upserts for c in d.chunks]
        vectors, embedded = self.indexer.vectors(
            [c.embed_hash for c in chunks], [c.embed_text for c in chunks], progress
        )
        self.indexer.build(db, work, removed_ids, new_ids, vectors, progress)
        return embedded


def _reason(err: Exception, name: str) -> str:
    """Why a file failed, without its name (the report names it) or the server's path to it."""
    if isinstance(err, OSError):
        return err.strerror or type(err).__name__
    return str(err).removeprefix(f"{name}: ")
