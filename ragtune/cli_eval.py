"""`ragtune eval`: compare base, RAG and tuned answers; `ragtune eval import-ratings`: fold human scores back."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.errors import RagtuneError

eval_app = typer.Typer(no_args_is_help=True, invoke_without_command=True)

RAG_MODES = {"on": True, "off": False}


def parse_list(value: str, option: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise RagtuneError(f"{option}: give at least one value, comma separated")
    return list(dict.fromkeys(items))


def parse_rag(value: str) -> list[bool]:
    modes = parse_list(value, "--rag")
    bad = [m for m in modes if m not in RAG_MODES]
    if bad:
        raise RagtuneError(f"--rag: '{bad[0]}' is not one of on, off")
    return [RAG_MODES[m] for m in modes]


@eval_app.callback()
def evaluate(
    ctx: typer.Context,
    questions: Annotated[
        Path | None,
        typer.Option(
            help="Held-out questions (JSONL: question, reference_answer, gold_sources, answerable)."
        ),
    ] = None,
    models: Annotated[str, typer.Option(help="Comma separated: 'base' and/or adapter names.")] = "base",
    rag: Annotated[str, typer.Option(help="Comma separated RAG modes: on, off.")] = "on,off",
    base_url: Annotated[
        str | None, typer.Option(help="A running ragtune server (…/v1); default: start one for the run.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Client key for --base-url (default: the first configured key).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("reports/eval"),
    judge: Annotated[
        bool, typer.Option(help="Also score answers with the judge endpoint in settings.evaluation.")
    ] = False,
    general: Annotated[
        Path | None,
        typer.Option(
            help="Everyday questions for the general-ability check (default: general.jsonl beside --questions)."
        ),
    ] = None,
    conversations: Annotated[
        Path | None,
        typer.Option(
            help="Held-out conversations (JSONL: messages ending with the follow-up, reference_answer, key_facts, "
            "gold_sources, answerable, language, kind), scored on their final turn with the same metrics."
        ),
    ] = None,
) -> None:
    """Ask every combination of model and RAG mode the held-out questions (and conversations) through the
    server's API, with the server's own decoding defaults, and report metrics (key-fact accuracy, overlap,
    retrieval, refusals; zh and en apart), 95% bootstrap intervals, charts and side-by-side answers."""
    if ctx.invoked_subcommand:
        return
    if questions is None:
        raise RagtuneError("--questions: a question file is needed")
    from core.settings import Settings
    from evaluation.evaluate import evaluate as run_evaluation
    from evaluation.server import api_key as server_api_key
    from evaluation.server import started_server

    if general is None and (questions.parent / "general.jsonl").is_file():
        general = questions.parent / "general.jsonl"
    settings = Settings()
    run_evaluation(
        settings.evaluation,
        questions,
        parse_list(models, "--models"),
        parse_rag(rag),
        out,
        server=base_url or started_server(settings),
        api_key=api_key or server_api_key(settings.server),
        top_k=settings.retrieval.top_k,
        embedding_model=settings.retrieval.embedding_model,
        judge=judge,
        general_path=general,
        conversations_path=conversations,
    )


@eval_app.command("import-ratings")
def import_ratings(
    ratings: Annotated[Path, typer.Argument(help="The report's ratings.csv with ratings filled in (1-5).")],
    report: Annotated[Path, typer.Option(help="The report folder the ratings belong to.")],
) -> None:
    """Fold human ratings into a report as the 'Human rating' metric and re-render it."""
    from evaluation.ratings import import_ratings as fold_in
    from evaluation.report import show, write_report

    count = fold_in(ratings, report)
    console = Console()
    console.print(f"{count} rating(s) folded into {report}")
    show(write_report(report), report, console)


@eval_app.command("followups")
def followups(
    conversations: Annotated[
        Path,
        typer.Option(
            help="Conversations (JSONL: messages ending with the follow-up, standalone_question, gold_sources, "
            "answerable, language, kind)."
        ),
    ],
    collection: Annotated[
        str | None, typer.Option(help="Search this collection only (default: all).")
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Recall counts the gold source among the first k hits.")] = 5,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Search the knowledge base with each conversation's follow-up resolved as serving resolves it, written out
    in full, and alone; print recall@k of the gold sources and the relevance gate's decisions, zh and en
    apart, per kind of follow-up. No chat model is loaded."""
    import json

    from core.settings import Settings
    from evaluation.conversations import load_conversations
    from evaluation.followups import as_json, ask, summarise, tables
    from knowledge import KnowledgeBase
    from rails import Rails
    from rails.grounding import GroundingGate

    settings = Settings()
    loaded = load_conversations(conversations)
    kb = KnowledgeBase.open(settings.kb_dir, settings.knowledge, settings.retrieval)
    if not kb.version:
        raise RagtuneError(
            f"{settings.kb_dir}: the knowledge base is empty; add documents first (ragtune kb sync)"
        )
    gate = GroundingGate(settings.rails.grounding, idf=kb.idf)
    top = max(k, settings.retrieval.top_k)  # recall looks at k hits, the gate at serving's top_k

    def search(query: str):
        return kb.search(query, k=top, collection=collection)

    small_talk = Rails(settings.rails).dialogue  # earlier greetings carry no topic, as in serving
    outcomes = [
        ask(c, search, gate, settings.retrieval, k, lambda text: small_talk(text) is not None) for c in loaded
    ]
    summaries = summarise(outcomes)
    if json_output:
        typer.echo(json.dumps(as_json(outcomes, summaries, k), ensure_ascii=False, indent=1))
        return
    console = Console()
    for table in tables(outcomes, summaries, k):
        console.print(table)
