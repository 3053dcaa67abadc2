"""`ragtune eval`: asks every combination the held-out questions (and the general set) through the server's
OpenAI API, scores the answers and writes the report folder."""

from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import openai
from rich.console import Console
from tqdm import tqdm

from core.errors import RagtuneError
from core.settings import EvaluationSettings
from evaluation import runner
from evaluation.judge import Judge
from evaluation.questions import load_conversation_questions, load_questions
from evaluation.ratings import write_ratings_csv
from evaluation.report import show, write_report
from evaluation.scoring import score_row
from evaluation.store import archive_previous, save_run
from rails.groundedness import GroundednessChecker
from retrieval.embedding import Embedder


def make_judge(ev: EvaluationSettings) -> Judge:
    if not ev.judge_base_url or not ev.judge_model:
        raise RagtuneError(
            "--judge needs a judge endpoint: set RAGTUNE_EVALUATION__JUDGE_BASE_URL and "
            "RAGTUNE_EVALUATION__JUDGE_MODEL (and RAGTUNE_EVALUATION__JUDGE_API_KEY if it needs one)"
        )
    return Judge(ev.judge_base_url, ev.judge_model, ev.judge_api_key)


def ask_all(client: openai.OpenAI, ev: EvaluationSettings, top_k: int, models: list[str], rag_modes: list[bool],
            questions, general, conversations) -> dict:
    """Rows for the held-out set and the conversation set (every model x RAG mode) and the general set
    (every model, RAG off), with the labels and the decoding each model answered with."""
    served = runner.resolve_models(client, models)
    combos, general_combos = runner.combinations(served, rag_modes), runner.combinations(served, [False])
    options = {"top_k": top_k, "max_tokens": ev.max_tokens, "concurrency": ev.concurrency}
    rows = [{"set": "heldout", **r} for r in runner.run(client, combos, questions, **options)]
    if conversations:
        rows += [{"set": "conversation", **r}
                 for r in runner.run(client, combos, conversations, desc="conversations", **options)]
    if general:
        rows += [{"set": "general", **r}
                 for r in runner.run(client, general_combos, general, desc="general check", **options)]
    return {"labels": [c.label for c in combos], "general_labels": [c.label for c in general_combos],
            "rows": rows, "decoding": runner.decodings(client, served)}


def evaluate(
    ev: EvaluationSettings, questions_path: Path, models: list[str], rag_modes: list[bool], out: Path, *,
    server: str | AbstractContextManager[str], top_k: int, embedding_model: str, api_key: str = "none",
    judge: bool = False, general_path: Path | None = None, conversations_path: Path | None = None,
    console: Console | None = None,
) -> dict:
    """Runs the evaluation and writes out/: results, report.md/html, charts, ratings.csv. `server`: a running
    server's base URL (…/v1), or a context that starts one for the run and yields its URL
    (evaluation.server.started_server). top_k: the server's retrieval.top_k (recall@k); embedding_model: the
    groundedness check's embedder. A conversation set is scored on each conversation's final turn, with the
    whole conversation sent."""
    questions = load_questions(questions_path)
    general = load_questions(general_path) if general_path else []
    conversations = load_conversation_questions(conversations_path) if conversations_path else []
    the_judge = make_judge(ev) if judge else None
    checker = GroundednessChecker(Embedder(embedding_model), ev.groundedness_threshold)
    running = isinstance(server, str)
    with nullcontext(server) if running else server as url:
        client = openai.OpenAI(base_url=url, api_key=api_key, timeout=600, max_retries=0)
        asked = ask_all(client, ev, top_k, models, rag_modes, questions, general, conversations)
    rows = asked["rows"]
    run = {
        "questions": str(questions_path), "question_count": len(questions), "general": str(general_path or ""),
        "conversations": str(conversations_path or ""), "conversation_count": len(conversations),
        "base_url": server if running else "started for this run", "labels": asked["labels"],
        "general_labels": asked["general_labels"], "decoding": asked["decoding"],
        "max_tokens": ev.max_tokens, "top_k": top_k, "groundedness_threshold": ev.groundedness_threshold,
        "bootstrap_samples": ev.bootstrap_samples, "seed": ev.seed,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    moved = archive_previous(out)
    if moved:
        (console or Console()).print(f"the previous run in {out} was moved to {moved}")
    save_run(out, run, rows)  # the answers are kept even if scoring or the judge fails
    for row in tqdm(rows, desc="scoring", unit="answer"):
        score_row(row, checker, top_k)
        if the_judge:
            row.update({f"judge_{k}": v for k, v in the_judge.score(row).items()})
    save_run(out, run, rows)
    write_ratings_csv(rows, out, ev.seed)
    report = write_report(out)
    show(report, out, console)
    return report
