"""Syncing a folder as the admin API and editors do: only inside the allowed roots, citing paths relative to
them, and never wiping a collection by mistake."""

import json
import sqlite3
from pathlib import Path

import pytest

from core.errors import ConflictError, RagtuneError
from tests.knowledge.test_knowledge_base import RETURNS, SHIPPING, WARRANTY, CountingEmbedder, write
from training.raft import is_gold

SECRET = "# Payroll\n\nThe payroll server password rotates every Monday at dawn."


def report_text(report) -> str:
    return json.dumps(report.__dict__, default=str)


def test_a_folder_outside_the_roots_is_refused_without_naming_the_roots(make_kb, tmp_path):
    kb = make_kb()
    allowed = tmp_path / "allowed"
    write(allowed / "docs", {"returns.md": RETURNS})
    write(tmp_path / "private", {"payroll.md": SECRET})
    for folder, roots in [
        (tmp_path / "private", [allowed]),
        (Path("../private"), [allowed]),  # relative: looked up under the root, may not climb out
        (allowed / "docs", []),  # no roots configured: the API may sync nothing
    ]:
        with pytest.raises(RagtuneError) as refused:
            kb.sync(folder, roots=roots, progress=False)
        assert str(refused.value) == (
            f"sync: {folder} is not inside a folder this knowledge base may sync (knowledge.sync_roots)"
        )
    assert kb.version == 0

    report = kb.sync(Path("docs"), roots=[allowed], progress=False)
    assert (
        report.added == ["docs/returns.md"]
        and kb.search("return an item", k=1)[0].source == "docs/returns.md"
    )


def test_symbolic_links_out_of_the_root_are_not_followed_nor_echoed(make_kb, tmp_path):
    kb = make_kb()
    root, outside = tmp_path / "root", write(tmp_path / "outside", {"payroll.md": SECRET})
    docs = write(root / "docs", {"returns.md": RETURNS})
    (docs / "payroll.md").symlink_to(outside / "payroll.md")
    (docs / "more").symlink_to(outside, target_is_directory=True)
    (docs / "shipping.md").symlink_to(write(root / "shared", {"shipping.md": SHIPPING}) / "shipping.md")

    report = kb.sync(docs, roots=[root], progress=False)
    assert sorted(report.added) == ["docs/returns.md", "docs/shipping.md"]  # a link inside the root is fine
    assert report.failed == [
        ("docs/payroll.md", "a symbolic link leading outside the allowed folder; not followed")
    ]
    assert str(tmp_path) not in report_text(report)
    assert kb.search("payroll server password") == []


def test_sources_are_relative_and_resyncing_recognises_every_file(make_kb, tmp_path, embedder):
    counting = CountingEmbedder(embedder)
    kb = make_kb(embedder=counting)
    docs = write(tmp_path / "knowledge", {"shipping.md": SHIPPING})
    write(docs / "policies", {"returns.md": RETURNS})
    first = kb.sync(docs, progress=False)
    assert sorted(first.added) == ["policies/returns.md", "shipping.md"]
    hit = kb.search("how many days to return an item", k=1)[0]
    assert hit.source == "policies/returns.md" and str(tmp_path) not in json.dumps(kb.documents())
    assert all(is_gold(hit, [gold]) for gold in ("returns.md", "policies/returns.md", hit.doc_id))
    assert not is_gold(hit, ["shipping.md"])

    counting.texts.clear()
    again = kb.sync(
        tmp_path / "knowledge" / ".." / "knowledge", progress=False
    )  # the same folder, spelt anew
    assert again.version is None and sorted(again.unchanged) == ["policies/returns.md", "shipping.md"]
    kb.remove(str(docs / "shipping.md"))  # a file path still names its document
    assert [d["source"] for d in kb.documents()] == ["policies/returns.md"] and counting.texts == []


def test_a_knowledge_base_written_before_relative_sources_syncs_without_duplicates(
    make_kb, tmp_path, embedder
):
    counting = CountingEmbedder(embedder)
    kb = make_kb(embedder=counting)
    docs = write(tmp_path / "docs", {"returns.md": RETURNS, "shipping.md": SHIPPING})
    kb.sync(docs, progress=False)
    live = kb.store.folder(kb.version) / "meta.sqlite"
    with sqlite3.connect(live) as db:  # as the earlier layout had it: absolute sources, the path in metadata
        for doc_id, path in db.execute("SELECT doc_id, path FROM documents").fetchall():
            metadata = json.dumps({"path": path, "tags": ["policy"]})
            db.execute(
                "UPDATE documents SET source = ?, metadata = ? WHERE doc_id = ?", (path, metadata, doc_id)
            )
        db.execute("DROP INDEX documents_path")
        db.execute("ALTER TABLE documents DROP COLUMN path")
    assert kb.documents()[0]["metadata"] == {"tags": ["policy"]}  # the old server path is not shown

    counting.texts.clear()
    write(docs, {"warranty.md": WARRANTY})
    report = kb.sync(docs, progress=False)
    assert report.added == ["warranty.md"] and sorted(report.updated) == ["returns.md", "shipping.md"]
    assert report.chunks_embedded == 1  # the old documents' vectors were reused
    assert counting.texts and all("warranty" in t for t in counting.texts)
    listed = {d["source"]: d["metadata"] for d in kb.documents()}
    assert listed == {
        "returns.md": {"tags": ["policy"]},
        "shipping.md": {"tags": ["policy"]},
        "warranty.md": {},
    }
    (docs / "warranty.md").unlink()
    assert kb.sync(docs, progress=False).removed == ["warranty.md"]


def test_a_sync_that_would_empty_the_collection_is_refused_and_changes_nothing(make_kb, tmp_path):
    kb = make_kb()
    docs = write(
        tmp_path / "docs", {f"{n}.md": f"# Note {n}\n\nParcel {n} ships on day {n}." for n in range(4)}
    )
    kb.sync(docs, progress=False)
    for n in range(3):
        (docs / f"{n}.md").unlink()
    with pytest.raises(ConflictError, match="would remove 3 of the 4 document") as refused:
        kb.sync(docs, progress=False)
    assert "--allow-mass-removal" in str(refused.value) and "last 10 versions are kept" in str(refused.value)
    (docs / "3.md").unlink()
    with pytest.raises(ConflictError, match="would remove 4 of the 4 .*missing or empty"):
        kb.sync(docs, progress=False)
    docs.rmdir()
    with pytest.raises(ConflictError, match="missing or empty"):
        kb.sync(docs, progress=False)
    assert kb.version == 1 and len(kb.documents()) == 4 and len(kb.versions()) == 1

    forced = kb.sync(docs, progress=False, allow_mass_removal=True)
    assert len(forced.removed) == 4 and forced.previous_version == 1 and kb.documents() == []
    with pytest.raises(RagtuneError, match="is not a folder"):
        kb.sync(docs, progress=False)  # nothing from it is left to remove


def test_dry_run_reports_what_would_change_and_writes_nothing(make_kb, tmp_path):
    kb = make_kb()
    docs = write(tmp_path / "docs", {"returns.md": RETURNS, "shipping.md": SHIPPING})
    kb.sync(docs, progress=False)
    write(docs, {"warranty.md": WARRANTY, "returns.md": RETURNS.replace("30", "14")})
    (docs / "shipping.md").unlink()
    before = sorted(p.name for p in (tmp_path / "kb").rglob("*"))

    plan = kb.sync(docs, progress=False, dry_run=True)
    assert (plan.added, plan.updated, plan.removed) == (["warranty.md"], ["returns.md"], ["shipping.md"])
    assert plan.dry_run and plan.version is None and plan.chunks_embedded == 0
    assert sorted(p.name for p in (tmp_path / "kb").rglob("*")) == before
    assert "30 days" in kb.search("how many days to return an item", k=1)[0].text
