"""`ragtune kb ...`: add, list, remove, sync, search, versions, rollback."""

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import RagtuneError
from core.settings import Settings
from knowledge import IngestReport, KnowledgeBase

kb_app = typer.Typer(no_args_is_help=True)
console = Console()


def open_kb() -> KnowledgeBase:
    settings = Settings()
    return KnowledgeBase.open(
        settings.kb_dir, settings.knowledge, settings.retrieval, lock_url=settings.feedback.database_url
    )


def show_report(report: IngestReport, kb: KnowledgeBase) -> None:
    """Print what changed (a dry run: what would); exit code 2 when some files could not be indexed."""
    counts = (
        f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
        f"removed {len(report.removed)}"
    )
    if report.dry_run:
        console.print(f"dry run, nothing changed; a sync would have {counts}")
        for kind in ("added", "updated", "removed"):
            for name in getattr(report, kind):
                console.print(f"  would be {kind}: {name}", highlight=False)
    elif report.version:
        undo = f"ragtune kb rollback {report.previous_version}" if report.previous_version else "none"
        console.print(
            f"{counts}; {report.chunks_embedded} chunk(s) embedded; live version {report.version} "
            f"(undo: {undo}; the last {kb.settings.keep_versions} versions are kept)"
        )
    else:
        console.print(f"{counts}; no new version (nothing changed)")
    for path in report.skipped:
        console.print(f"[yellow]skipped[/yellow] {path}: unsupported file type", highlight=False)
    for path, reason in report.failed:
        console.print(f"[red]failed[/red] {path}: {reason}", highlight=False)
    if report.failed:
        raise typer.Exit(2)


@kb_app.command()
def add(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or folders (md, txt, html, pdf, docx, FAQ jsonl/csv).")
    ],
    collection: Annotated[str | None, typer.Option(help="Collection (product line, tenant).")] = None,
    title: Annotated[
        str | None, typer.Option(help="Title to use instead of the one found in the file.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="URL to cite instead of the file path.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Tag, usable as a search filter (repeatable).")
    ] = None,
) -> None:
    """Add or update documents (unchanged files are skipped)."""
    metadata = {key: value for key, value in {"title": title, "url": url, "tags": tag or []}.items() if value}
    kb = open_kb()
    show_report(kb.add_paths(paths, collection=collection, metadata=metadata), kb)


@kb_app.command("list")
def list_documents(collection: str | None = typer.Option(None, help="Only this collection.")) -> None:
    """List the documents of the live version."""
    table = Table("doc", "collection", "title", "source", "chunks", "updated")
    for doc in open_kb().documents(collection):
        updated = datetime.fromtimestamp(doc["updated_at"]).strftime("%Y-%m-%d %H:%M")
        table.add_row(
            doc["doc_id"], doc["collection"], doc["title"], doc["source"], str(doc["chunks"]), updated
        )
    console.print(table)


@kb_app.command()
def remove(doc: str = typer.Argument(..., help="Document id (see `kb list`) or its source path.")) -> None:
    """Remove a document."""
    kb = open_kb()
    kb.remove(doc)
    console.print(f"removed {doc}; live version {kb.version}")


@kb_app.command()
def sync(
    folder: Annotated[Path, typer.Argument(help="Folder the collection should mirror.")],
    collection: Annotated[str | None, typer.Option(help="Collection (product line, tenant).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show what would change; change nothing.")] = False,
    allow_mass_removal: Annotated[
        bool,
        typer.Option(
            help="Remove the documents of files gone from the folder even when that is all of them, or more "
            "than knowledge.max_sync_removal_share."
        ),
    ] = False,
) -> None:
    """Mirror a folder: new and changed files indexed, deleted ones removed, unchanged ones untouched.
    Citations show each file's path relative to the folder."""
    kb = open_kb()
    report = kb.sync(folder, collection=collection, dry_run=dry_run, allow_mass_removal=allow_mass_removal)
    show_report(report, kb)


def parse_filters(filters: list[str]) -> dict[str, str]:
    parsed = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RagtuneError(f"--filter {item!r}: expected key=value, e.g. tags=returns")
        parsed[key.strip()] = value.strip()
    return parsed


@kb_app.command()
def search(
    question: Annotated[str, typer.Argument(help="The question.")],
    k: Annotated[int | None, typer.Option(help="How many chunks (default retrieval.top_k).")] = None,
    collection: Annotated[str | None, typer.Option(help="Only this collection.")] = None,
    filter: Annotated[
        list[str] | None, typer.Option(help="Metadata filter key=value (title, url, tags, ...); repeatable.")
    ] = None,
) -> None:
    """Print the ranked chunks for a question, with their source and scores."""
    hits = open_kb().search(question, k=k, collection=collection, filters=parse_filters(filter or []))
    if not hits:
        console.print("no relevant chunks in the knowledge base")
    for rank, hit in enumerate(hits, start=1):
        scores = f"score {hit.score:.4f}  dense {_fmt(hit.dense_score)}  bm25 {_fmt(hit.sparse_score)}"
        if hit.rerank_score is not None:
            scores += f"  rerank {hit.rerank_score:.3f}"
        console.print(
            f"[bold]{rank}. {hit.title}[/bold]  {hit.source} #{hit.position}  ({scores})", highlight=False
        )
        snippet = " ".join(hit.text.split())
        console.print(f"   {snippet[:300]}{'…' if len(snippet) > 300 else ''}", highlight=False)


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:.3f}"


@kb_app.command()
def versions() -> None:
    """List the kept versions; the live one is marked."""
    kb = open_kb()
    table = Table("version", "live", "created", "documents", "chunks", "change")
    for v in kb.versions():
        created = (
            datetime.fromtimestamp(v["created_at"]).strftime("%Y-%m-%d %H:%M:%S") if v["created_at"] else ""
        )
        table.add_row(
            str(v["version"]),
            "*" if v["live"] else "",
            created,
            str(v["documents"]),
            str(v["chunks"]),
            v["note"],
        )
    console.print(table)
    console.print(
        f"live version {kb.version}; the last {kb.settings.keep_versions} versions are kept "
        "(`ragtune kb rollback VERSION` makes one live again)",
        highlight=False,
    )


@kb_app.command()
def rollback(
    version: int = typer.Argument(..., help="Version to make live again (see `kb versions`)."),
) -> None:
    """Make an earlier version live again (the last knowledge.keep_versions versions are kept)."""
    kb = open_kb()
    kb.rollback(version)
    console.print(f"live version is now {kb.version}")
