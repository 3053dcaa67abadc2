"""`ragtune rails calibrate`: the grounding gate's signals and threshold on a team's own questions."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

rails_app = typer.Typer(no_args_is_help=True)


@rails_app.command()
def calibrate(
    questions: Annotated[Path, typer.Option(
        help="Labelled questions (JSONL: question, answerable; the format of ragtune eval).")],
    collection: Annotated[str | None, typer.Option(help="Search this collection only (default: all).")] = None,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    max_false_refusal: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Most answerable questions the threshold may refuse (share).")] = 0.05,
) -> None:
    """Search the knowledge base with each question, score every grounding signal, and print each signal's
    ROC-AUC, its threshold and the refusals it gives in cross-validation, then the settings to use."""
    from core.errors import RagtuneError
    from core.settings import Settings
    from evaluation.questions import load_questions
    from knowledge import KnowledgeBase
    from rails.calibration import calibrate as run_calibration
    from rails.calibration import score_samples

    settings = Settings()
    labelled = [(q.question, q.answerable) for q in load_questions(questions)]
    if all(a for _, a in labelled) or not any(a for _, a in labelled):
        raise RagtuneError(f"{questions}: calibration needs answerable and unanswerable questions (answerable: false)")
    if min(sum(a for _, a in labelled), sum(not a for _, a in labelled)) < folds:
        raise RagtuneError(f"{questions}: fewer questions of one kind than --folds {folds}")
    kb = KnowledgeBase.open(settings.kb_dir, settings.knowledge, settings.retrieval)
    if not kb.version:
        raise RagtuneError(f"{settings.kb_dir}: the knowledge base is empty; add documents first (ragtune kb sync)")
    samples = score_samples(labelled, lambda q: kb.search(q, collection=collection), kb.idf, progress=True)
    reports = run_calibration(samples, folds, max_false_refusal)
    show(reports, len(labelled), sum(a for _, a in labelled), folds, Console())


def show(reports, count: int, answerable: int, folds: int, console: Console) -> None:
    table = Table(title=f"{count} questions ({answerable} answerable); refusals in {folds}-fold cross-validation")
    for column in ("signal", "ROC-AUC", "threshold", "unanswerable refused", "answerable refused"):
        table.add_column(column, justify="left" if column == "signal" else "right")
    for r in reports:
        table.add_row(
            r.signal,
            f"{r.auc:.3f}",
            f"{r.threshold:.3f}",
            f"{r.refusal_accuracy:.2f}",
            f"{r.false_refusals:.2f}",
        )
    console.print(table)
    best = reports[0]
    console.print(f"chosen: {best.signal}, threshold {best.threshold:.3f}. In ragtune.yaml:", highlight=False)
    console.print(
        f"rails:\n  grounding:\n    signal: {best.signal}\n    threshold: {best.threshold:.3f}",
        highlight=False,
        markup=False,
    )
    console.print(
        f"or in the environment: RAGTUNE_RAILS__GROUNDING__SIGNAL={best.signal} "
        f"RAGTUNE_RAILS__GROUNDING__THRESHOLD={best.threshold:.3f}", highlight=False, soft_wrap=True,
    )
