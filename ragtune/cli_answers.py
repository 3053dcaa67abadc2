"""`ragtune answers ...`: curated answers (knowledge/answers.py): import FAQ files, add, list, remove,
export, and a staff correction from the feedback log made a curated answer. A running server sees each
change on its next request."""

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import RagtuneError
from core.settings import Settings
from feedback.service import FeedbackService
from knowledge import KnowledgeBase
from knowledge.answers import AnswerStore, CuratedAnswer, cited, from_correction, listed, read_faq_file

answers_app = typer.Typer(no_args_is_help=True)
console = Console()


def _open() -> tuple[Settings, AnswerStore, KnowledgeBase]:
    settings = Settings()
    lock_url = settings.feedback.database_url
    store = AnswerStore(
        settings.answers_dir, settings.knowledge.lock_timeout_s, settings.knowledge.keep_versions, lock_url
    )
    kb = KnowledgeBase.open(settings.kb_dir, settings.knowledge, settings.retrieval, lock_url=lock_url)
    return settings, store, kb


@answers_app.command("import")
def import_files(
    files: Annotated[list[Path], typer.Argument(help="FAQ files: jsonl {question, answer} or csv.")],
    collection: Annotated[str | None, typer.Option(help="Only for this collection (default: any).")] = None,
    author: Annotated[str | None, typer.Option(help="Who approved them.")] = None,
) -> None:
    """Import FAQ files as curated answers (a question already stored gets the new answer)."""
    _, store, _ = _open()
    answers = [answer for path in files for answer in read_faq_file(path, collection, author)]
    stored = store.add(answers)
    console.print(f"{len(stored)} curated answer(s) imported from {len(files)} file(s)")


@answers_app.command()
def add(
    question: Annotated[str, typer.Option(help="The question as customers ask it.")],
    answer: Annotated[str, typer.Option(help="The approved answer, served word for word.")],
    paraphrase: Annotated[list[str] | None, typer.Option(help="Another way to ask it (repeatable).")] = None,
    source: Annotated[
        list[str] | None, typer.Option(help="A knowledge-base document id or source it cites (repeatable).")
    ] = None,
    collection: Annotated[str | None, typer.Option(help="Only for this collection (default: any).")] = None,
    language: Annotated[str | None, typer.Option(help="en or zh (default: detected).")] = None,
    author: Annotated[str | None, typer.Option(help="Who approved it.")] = None,
) -> None:
    """Add one curated answer."""
    _, store, kb = _open()
    sources = cited(source, kb.documents()) if source else []
    new = CuratedAnswer(
        question=question,
        answer=answer,
        paraphrases=paraphrase or [],
        language=language or "",
        collection=collection,
        sources=sources,
        author=author,
        origin="cli",
    )
    console.print(f"stored {store.add([new])[0].id}")


@answers_app.command("list")
def list_answers(
    stale: Annotated[
        bool, typer.Option("--stale", help="Only answers whose cited documents changed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List curated answers with their hits; stale ones say which document changed."""
    _, store, kb = _open()
    rows = listed(store, kb.documents(), stale)
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    table = Table("lang", "question", "hits", "last hit", "stale")
    table.add_column("id", no_wrap=True)  # what `remove` takes: copied whole
    for row in rows:
        last = datetime.fromtimestamp(row["last_hit"]).strftime("%Y-%m-%d %H:%M") if row["last_hit"] else ""
        table.add_row(
            row["language"], row["question"], str(row["hits"]), last, "; ".join(row["stale"]), row["id"]
        )
    console.print(table)


@answers_app.command()
def remove(answer_id: Annotated[str, typer.Argument(help="The answer's id (ragtune answers list).")]) -> None:
    """Remove a curated answer."""
    _open()[1].remove(answer_id)
    console.print(f"removed {answer_id}")


@answers_app.command()
def export(
    out: Annotated[
        Path | None, typer.Argument(help="File to write (jsonl); default: standard output.")
    ] = None,
) -> None:
    """Every curated answer as JSON lines (what `import` reads back: question and answer, and the rest)."""
    lines = [json.dumps(asdict(answer), ensure_ascii=False) for answer in _open()[1].all()]
    text = "".join(f"{line}\n" for line in lines)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"{len(lines)} curated answer(s) written to {out}")


@answers_app.command("from-feedback")
def from_feedback(
    response_id: Annotated[
        str, typer.Argument(help="The response's id (chatcmpl-...) that staff corrected.")
    ],
    author: Annotated[str | None, typer.Option(help="Who approved it.")] = None,
) -> None:
    """Make a staff correction from the feedback log a curated answer for the question asked."""
    settings, store, kb = _open()
    if not settings.feedback.enabled:
        raise RagtuneError("from-feedback: the feedback log is off (settings feedback.enabled)")
    feedback = FeedbackService(settings.feedback, settings.pii, settings.home).start()
    try:
        chat, corrected = feedback.correction(response_id)
    finally:
        feedback.close()
    cited_ids = [c["document_id"] for c in chat.sources if c.get("document_id")]
    answer = from_correction(
        chat.messages, corrected, cited_ids, kb.documents(), settings.retrieval, response_id, author
    )
    stored = store.add([answer])[0]
    console.print(f"stored {stored.id}: {stored.question}")


def review_command(
    days: Annotated[float, typer.Option(help="How far back the conversation log is read.")] = 30,
    limit: Annotated[int, typer.Option(help="Most logged completions read (newest first).")] = 5000,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The review queue: questions that got the fallback, a hand-off, a thumbs-down or failed the answer check,
    the ways of asking one thing as one row, most frequent first, then newest."""
    from retrieval.embedding import Embedder

    settings = Settings()
    if not settings.feedback.enabled:
        raise RagtuneError("review: the feedback log is off (settings feedback.enabled)")
    feedback = FeedbackService(settings.feedback, settings.pii, settings.home).start()
    try:
        embedder = Embedder(settings.retrieval.embedding_model)
        rows = feedback.review(embedder, settings.answers, settings.retrieval, days, limit)
    finally:
        feedback.close()
    if as_json:
        for row in rows:
            print(json.dumps(asdict(row), ensure_ascii=False))
        return
    table = Table("count", "lang", "question", "why", "sources", "to promote")
    for row in rows:
        why = ", ".join(f"{reason} {n}" for reason, n in row.reasons.items())
        sources = ", ".join(s["source"] for s in row.sources if s.get("source"))
        promote = f"ragtune answers from-feedback {row.corrected}" if row.corrected else ""
        table.add_row(str(row.count), row.language, row.question, why, sources, promote)
    console.print(table)
