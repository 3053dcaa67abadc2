"""Editors' view: add, sync, remove, versions, rollback, filters, uploads, concurrent writers."""

from pathlib import Path

import pytest
from filelock import FileLock

from core.errors import ConflictError, NotFoundError, RagtuneError, UnavailableError

RETURNS = "# Returns\n\nUnused items can be returned within 30 days of delivery for a full refund."
SHIPPING = "# Shipping\n\nStandard shipping takes 3 to 5 business days; express shipping takes one day."
WARRANTY = "# Warranty\n\nEvery gadget has a two year warranty against manufacturing defects."


class CountingEmbedder:
    """The real embedder, recording every document text it is asked to embed (queries are not counted)."""

    def __init__(self, embedder):
        self.inner, self.texts = embedder, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts, **kwargs):
        self.texts.extend(texts)
        return self.inner.encode(texts, **kwargs)


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def sources(hits) -> list[str]:
    return [Path(h.source).name for h in hits]


def test_sync_indexes_changes_by_hash_and_never_reembeds_unchanged(make_kb, tmp_path, embedder):
    counting = CountingEmbedder(embedder)
    kb = make_kb(embedder=counting)
    docs = write(tmp_path / "docs", {"returns.md": RETURNS, "shipping.md": SHIPPING})
    first = kb.sync(docs)
    assert sorted(Path(p).name for p in first.added) == ["returns.md", "shipping.md"]
    assert sources(kb.search("how many days to return an item", k=1)) == ["returns.md"]

    counting.texts.clear()
    write(docs, {"warranty.md": WARRANTY, "shipping.md": SHIPPING.replace("one day", "next morning")})
    (docs / "returns.md").unlink()
    second = kb.sync(docs)
    assert [Path(p).name for p in second.added] == ["warranty.md"]
    assert [Path(p).name for p in second.updated] == ["shipping.md"]
    assert [Path(p).name for p in second.removed] == ["returns.md"]
    # only the new and changed chunks (and their sentences) were embedded, never an unchanged or removed one
    assert second.chunks_embedded == 2
    assert counting.texts and all("warranty" in t or "next morning" in t for t in counting.texts)
    assert sorted(Path(d["source"]).name for d in kb.documents()) == ["shipping.md", "warranty.md"]
    assert "next morning" in kb.search("how fast is express shipping", k=1)[0].text
    assert "returns.md" not in sources(kb.search("how many days to return an item"))

    counting.texts.clear()
    third = kb.sync(docs)
    assert third.version is None and len(third.unchanged) == 2 and counting.texts == []


def test_rollback_brings_back_the_old_content_and_old_versions_are_pruned(make_kb, tmp_path):
    kb = make_kb(knowledge={"keep_versions": 3})
    docs = write(tmp_path / "docs", {"returns.md": RETURNS})
    v1 = kb.sync(docs).version
    write(docs, {"returns.md": RETURNS.replace("30 days", "14 days")})
    v2 = kb.sync(docs).version
    assert "14 days" in kb.search("return window days", k=1)[0].text
    kb.rollback(v1)
    assert kb.version == v1 and "30 days" in kb.search("return window days", k=1)[0].text
    assert [v["live"] for v in kb.versions() if v["version"] == v1] == [True]
    for days in (7, 10, 21):  # more changes than keep_versions
        write(docs, {"returns.md": RETURNS.replace("30 days", f"{days} days")})
        kb.sync(docs)
    kept = [v["version"] for v in kb.versions()]
    assert len(kept) == 3 and v2 not in kept
    with pytest.raises(NotFoundError, match=f"version {v2} does not exist or was pruned"):
        kb.rollback(v2)


def test_a_running_reader_sees_a_newer_version_from_another_writer(make_kb, tmp_path):
    reader, writer = make_kb("shared"), make_kb("shared")
    writer.add_document("returns.md", RETURNS.encode())
    assert sources(reader.search("return within how many days", k=1)) == ["returns.md"]
    writer.add_document("warranty.md", WARRANTY.encode())
    assert sources(reader.search("how long is the warranty", k=1)) == ["warranty.md"]


def test_collections_and_metadata_filters(make_kb, tmp_path):
    kb = make_kb()
    kb.add_document(
        "returns.md", RETURNS.encode(), collection="store", metadata={"tags": ["policy", "returns"]}
    )
    kb.add_document(
        "returns-b2b.md",
        RETURNS.replace("30", "60").encode(),
        collection="business",
        metadata={"tags": ["policy"], "url": "https://example.com/b2b/returns"},
    )
    query = "return items within how many days"
    assert {h.collection for h in kb.search(query)} == {"store", "business"}
    assert [h.collection for h in kb.search(query, collection="business")] == ["business"]
    hit = kb.search(query, filters={"url": "https://example.com/b2b/returns"})[0]
    assert hit.source == "https://example.com/b2b/returns" and "60 days" in hit.text
    assert [h.doc_id for h in kb.search(query, filters={"tags": "returns"})] == [
        kb.search(query, collection="store")[0].doc_id
    ]
    assert kb.search(query, filters={"title": "Returns"}) and kb.search(query, filters={"tags": "nope"}) == []


def test_sync_keeps_the_tags_an_editor_gave_with_kb_add(make_kb, tmp_path):
    kb = make_kb()
    docs = write(tmp_path / "docs", {"returns.md": RETURNS, "shipping.md": SHIPPING})
    kb.add_paths([docs / "returns.md"], progress=False, metadata={"tags": ["policy"]})
    write(docs, {"returns.md": RETURNS.replace("30 days", "45 days")})
    kb.sync(docs, progress=False)
    hits = kb.search("how many days to return an item", filters={"tags": "policy"})
    assert sources(hits) == ["returns.md"] and "45 days" in hits[0].text


def test_hits_carry_what_a_citation_needs(make_kb, tmp_path):
    kb = make_kb()
    doc_id = kb.add_document("returns.md", RETURNS.encode(), metadata={"tags": ["policy"]})
    hit = kb.search("can I return an unused item", k=1)[0]
    assert (hit.doc_id, hit.title, hit.source, hit.position, hit.collection) == (
        doc_id,
        "Returns",
        "returns.md",
        0,
        "default",
    )
    assert hit.chunk_id and "30 days" in hit.text and hit.metadata["tags"] == ["policy"]
    assert hit.dense_score > 0.3 and hit.sparse_score > 0 and hit.score > 0


def test_a_knowledge_base_under_a_relative_home_answers(tmp_path, embedder, monkeypatch):
    """The default RAGTUNE_HOME is the relative `.ragtune`: searching there once failed to open its index."""
    from core.settings import KnowledgeSettings, RetrievalSettings
    from knowledge import KnowledgeBase

    monkeypatch.chdir(tmp_path)
    kb = KnowledgeBase.open(Path(".ragtune/kb"), KnowledgeSettings(), RetrievalSettings(), embedder)
    kb.add_document("returns.md", RETURNS.encode())
    assert "30 days" in kb.search("can I return an unused item", k=1)[0].text


def test_upload_never_uses_the_name_as_a_path_and_doc_id_replaces(make_kb, tmp_path):
    kb = make_kb()
    doc_id = kb.add_document("../../escape.md", RETURNS.encode())
    assert not (tmp_path.parent / "escape.md").exists()
    assert kb.documents()[0]["source"] == "escape.md"
    assert kb.add_document("new-name.md", WARRANTY.encode(), doc_id=doc_id) == doc_id
    assert [d["title"] for d in kb.documents()] == ["Warranty"]
    kb.remove(doc_id)
    assert kb.documents() == [] and kb.search("warranty years") == []
    with pytest.raises(NotFoundError, match="no document 'nope'"):
        kb.remove("nope")
    with pytest.raises(RagtuneError, match="unsupported file type"):
        kb.add_document("slides.pptx", b"x")


def test_corrupt_file_is_reported_and_the_rest_indexed(make_kb, tmp_path):
    kb = make_kb()
    docs = write(tmp_path / "docs", {"returns.md": RETURNS, "shipping.md": SHIPPING})
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (docs / "image.png").write_bytes(b"\x89PNG")
    report = kb.add_paths([docs, tmp_path / "missing.md"], progress=False)
    assert len(report.added) == 2 and kb.version == 1
    failed = dict(report.failed)
    assert "cannot read pdf" in failed[str(docs / "broken.pdf")]
    assert failed[str(tmp_path / "missing.md")] == "no such file or folder"
    assert report.skipped == [str(docs / "image.png")]


def test_queries_that_cannot_be_answered_are_clear_errors(make_kb):
    kb = make_kb(max_query_chars=100)
    with pytest.raises(RagtuneError, match="query is empty"):
        kb.search("   ")
    with pytest.raises(RagtuneError, match="limit is 100"):
        kb.search("why " * 50)


def test_second_writer_gets_a_clear_message_and_readers_are_not_blocked(make_kb, tmp_path):
    kb = make_kb(knowledge={"lock_timeout_s": 0.2})
    kb.add_document("returns.md", RETURNS.encode())
    with FileLock(tmp_path / "kb" / "write.lock"):  # another process is writing
        assert sources(kb.search("return an item", k=1)) == ["returns.md"]
        with pytest.raises(UnavailableError, match="another process is changing it"):
            kb.add_document("warranty.md", WARRANTY.encode())
    assert kb.version == 1 and [d["title"] for d in kb.documents()] == ["Returns"]


def test_changing_the_embedding_model_is_caught_and_the_next_change_reembeds(make_kb, tmp_path, embedder):
    from core.settings import KnowledgeSettings, RetrievalSettings
    from knowledge import KnowledgeBase
    from retrieval.embedding import resolve_embedding_model

    make_kb().add_document("returns.md", RETURNS.encode())
    other = RetrievalSettings(embedding_model=resolve_embedding_model("all-MiniLM-L6-v2"))  # another name
    counting = CountingEmbedder(embedder)
    kb = KnowledgeBase.open(tmp_path / "kb", KnowledgeSettings(), other, counting)
    with pytest.raises(RagtuneError, match="was embedded with 'all-MiniLM-L6-v2'"):
        kb.search("return an item")
    kb.add_document("warranty.md", WARRANTY.encode())
    chunks = [t for t in counting.texts if t.startswith(("Returns\n", "Warranty\n"))]
    assert len(chunks) == 2  # the new document's chunk and the old one's, under the new model
    returns_sentence = "Unused items can be returned within 30 days of delivery for a full refund."
    assert list(kb.stored_vectors([returns_sentence])) == [returns_sentence]  # its sentences too
    assert sources(kb.search("how long can I return an item", k=1)) == ["returns.md"]


def test_a_file_that_unpacks_or_splits_too_far_fails_alone_and_nothing_stored_is_lost(make_kb, tmp_path):
    from tests.knowledge.test_loaders import make_docx, with_member

    kb = make_kb(knowledge={"max_chunks_per_document": 3}, chunk_tokens=32, chunk_overlap=0)
    kb.add_document("returns.md", RETURNS.encode())
    bomb = with_member(make_docx("Invoices", "Emailed."), "word/padding.xml", bytes(16 * 2**20))
    manual = " ".join(f"Step {i}: hold the button for {i} seconds." for i in range(60))
    docs = write(tmp_path / "docs", {"shipping.md": SHIPPING, "manual.txt": manual})
    (docs / "bomb.docx").write_bytes(bomb)

    report = kb.add_paths([docs], progress=False)
    assert report.added == [str(docs / "shipping.md")] and kb.version == 2
    failed = dict(report.failed)
    assert "more than knowledge.max_compression_ratio (100)" in failed[str(docs / "bomb.docx")]
    assert "more than knowledge.max_chunks_per_document (3)" in failed[str(docs / "manual.txt")]
    with pytest.raises(RagtuneError, match="bomb.docx: unpacks to"):
        kb.add_document("bomb.docx", bomb)
    assert kb.version == 2 and sorted(d["source"] for d in kb.documents()) == ["returns.md", "shipping.md"]


def test_removing_by_a_name_two_documents_share_is_refused(make_kb):
    kb = make_kb()
    store = kb.add_document("returns.md", RETURNS.encode(), collection="store")
    business = kb.add_document("returns.md", RETURNS.encode(), collection="business")
    with pytest.raises(ConflictError, match="'returns.md' names 2 documents"):
        kb.remove("returns.md")
    kb.remove(store)
    assert [d["doc_id"] for d in kb.documents()] == [business]
    kb.remove("returns.md")  # now it names one
    assert kb.documents() == []
