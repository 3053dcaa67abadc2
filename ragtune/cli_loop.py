"""The feedback loop on the command line: `ragtune data export` (feedback -> training files) and
`ragtune ab report NAME` (an A/B experiment's variants compared with bootstrap intervals)."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.settings import Settings

ab_app = typer.Typer(no_args_is_help=True)
console = Console()


def data_export(
    out: Annotated[Path, typer.Option(help="folder for sft.jsonl, dpo.jsonl, kto.jsonl and export.json")],
    since: Annotated[
        str | None, typer.Option(help="conversations from this ISO date or date-time on")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="conversations before this date-time (a date: its end)")
    ] = None,
    rating: Annotated[str | None, typer.Option(help="only feedback rated 'up' or 'down'")] = None,
    model: Annotated[str | None, typer.Option(help="only conversations with this served model name")] = None,
    collection: Annotated[
        str | None, typer.Option(help="only conversations that searched this collection")
    ] = None,
) -> None:
    """Write the conversation log's feedback as training files for `ragtune train sft` and `train dpo`:
    corrected and up-rated answers as SFT samples (with the sources shown as gold sources for --raft),
    corrections and compare-page preferences as DPO pairs, every thumbs up or down on a generated answer as
    a KTO example (with the sources it was shown, for the exact prompt). Personal data stays masked."""
    from feedback.export import ExportFilter, parse_time
    from feedback.service import FeedbackService

    where = ExportFilter(
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until", end=True),
        rating=rating,
        model=model,
        collection=collection,
    )
    settings = Settings()
    service = FeedbackService(settings.feedback, settings.pii, settings.home).start()
    try:
        result = service.export(out, where)
    finally:
        service.close()
    console.print(
        f"{result.sft} SFT samples, {result.dpo} DPO pairs, {result.kto} KTO examples written to {out}",
        highlight=False,
    )
    for reason, count in sorted(result.skipped.items()):
        console.print(f"  skipped {count}: {reason.replace('_', ' ')}", highlight=False)
    if "sft.jsonl" in result.files:
        console.print(
            f"next: ragtune train sft --data {out / 'sft.jsonl'} --name NAME [--raft]", highlight=False
        )
    if "dpo.jsonl" in result.files:
        console.print(
            f"      ragtune train dpo --data {out / 'dpo.jsonl'} --from NAME --name NAME-dpo", highlight=False
        )
    if "kto.jsonl" in result.files:
        console.print(
            f"      ragtune train kto --data {out / 'kto.jsonl'} --from ADAPTER --name NAME-kto",
            highlight=False,
        )


@ab_app.command("report")
def ab_report(
    name: Annotated[str, typer.Argument(help="the experiment's name")],
    out: Annotated[Path | None, typer.Option(help="report folder (default reports/ab/NAME)")] = None,
) -> None:
    """Compare an experiment's variants: requests, thumbs-up, fallback and hand-off rates, latency, each
    against the control with 95% bootstrap intervals; writes report.md, report.html and charts."""
    from evaluation.ab_report import build, show, write_report
    from feedback.service import FeedbackService

    settings = Settings()
    service = FeedbackService(settings.feedback, settings.pii, settings.home).start()
    try:
        experiment = service.experiments.get(name)
        rows = service.store.experiment_rows(name)
    finally:
        service.close()
    report = build(experiment, rows, settings.evaluation.bootstrap_samples, settings.evaluation.seed)
    files = write_report(report, out or Path("reports/ab") / name)
    show(report, console)
    console.print(f"report: {files['markdown']} and {files['html'].name}", highlight=False)
