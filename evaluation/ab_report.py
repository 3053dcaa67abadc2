"""The A/B experiment report: per variant the requests, thumbs-up rate (of rated answers), fallback rate,
hand-off rate and latency; each variant against the control (the first) with a 95% bootstrap interval of
the difference and a plain sentence on whether it is real. Markdown + HTML with charts, as `ragtune eval`."""

import json
import time
from pathlib import Path

from rich.console import Console

from evaluation.bootstrap import Interval, independent_bootstrap
from evaluation.charts import draw_charts
from evaluation.report import HTML_TEMPLATE, fmt, markdown_to_html, md_table, print_table
from evaluation.scoring import Metric
from feedback.experiments import Experiment
from feedback.records import ChatRecord, Feedback

AB_METRICS = [
    Metric(key="thumbs_up_rate", label="Thumbs-up rate", higher_is_better=True),
    Metric(key="fallback_rate", label="Fallback rate", higher_is_better=False),
    Metric(key="handoff_rate", label="Hand-off rate", higher_is_better=False),
    Metric(key="latency_s", label="Latency (s)", higher_is_better=False, digits=2),
]
_RATES = {"thumbs_up_rate", "fallback_rate", "handoff_rate"}


def observations(rows: list[tuple[ChatRecord, Feedback | None]]) -> dict[str, dict[str, list[float]]]:
    """Per variant and metric, one value per request (per rated request for the thumbs-up rate)."""
    found: dict[str, dict[str, list[float]]] = {}
    for chat, feedback in rows:
        values = found.setdefault(chat.variant or "-", {m.key: [] for m in AB_METRICS})
        if feedback is not None:
            values["thumbs_up_rate"].append(float(feedback.rating == "up"))
        values["fallback_rate"].append(float(chat.fallback))
        values["handoff_rate"].append(float(chat.handoff))
        values["latency_s"].append(chat.latency_s)
    return found


def build(experiment: Experiment, rows: list, samples: int = 1000, seed: int = 0) -> dict:
    """Everything the report shows; variants in the experiment's order, the control first."""
    found = observations(rows)
    names = [v.name for v in experiment.variants] + sorted(set(found) - {v.name for v in experiment.variants})
    empty = {m.key: [] for m in AB_METRICS}
    obs = {name: found.get(name, empty) for name in names}
    control = names[0]
    deltas = [
        (name, metric, independent_bootstrap(obs[control][metric.key], obs[name][metric.key], samples, seed))
        for name in names[1:]
        for metric in AB_METRICS
    ]
    return {
        "experiment": experiment,
        "control": control,
        "counts": {
            n: {"requests": len(obs[n]["latency_s"]), "rated": len(obs[n]["thumbs_up_rate"])} for n in names
        },
        "summary": {n: {m.key: _mean(obs[n][m.key]) for m in AB_METRICS} for n in names},
        "deltas": deltas,
        "verdicts": [verdict(name, control, metric, interval) for name, metric, interval in deltas],
        "samples": samples,
        "seed": seed,
    }


def verdict(name: str, control: str, metric: Metric, interval: Interval) -> str:
    """One plain sentence: is `name` really different from the control on this metric?"""
    if interval.n == 0:
        return f"{metric.label}: no data yet for {name} or {control}."
    change = _amount(metric, interval.mean)
    low, high = (_amount(metric, x, unit=False) for x in (interval.low, interval.high))
    said = (
        f"{metric.label}: {name} {change} against {control} "
        f"(95% interval {low} to {high}, at least {interval.n} per variant)"
    )
    if not interval.significant:
        return f"{said}; the interval includes zero: no real difference yet."
    better = (interval.mean > 0) == metric.higher_is_better
    return f"{said}: a real difference, {name} is {'better' if better else 'worse'}."


def markdown(report: dict, charts: dict[str, str]) -> str:
    experiment: Experiment = report["experiment"]
    names, control = list(report["summary"]), report["control"]
    state = "running" if experiment.running else f"stopped {_when(experiment.stopped)}"
    return "\n".join(
        [
            f"# A/B experiment {experiment.name}",
            "",
            f"Model `{experiment.model}`, started {_when(experiment.started)}, {state}. Control: {control}.",
            "",
            "## Variants",
            "",
            *md_table(["", *names], variant_rows(report)),
            "",
            f"## Differences to {control} with 95% bootstrap intervals",
            "",
            (
                f"Variant minus control, {report['samples']} resamples of each variant's requests "
                f"(seed {report['seed']}); "
                "rates in percentage points, latency in seconds; `*` marks an interval that excludes zero."
            ),
            "",
            *md_table(["metric", *(f"{n} vs {control}" for n in names[1:])], delta_rows(report)),
            "",
            "## Verdicts",
            "",
            *(f"- {line}" for line in report["verdicts"]),
            "",
            "## Charts",
            "",
            *(f"![{m.label}]({charts[m.key]})" for m in AB_METRICS if m.key in charts),
            "",
        ]
    )


def variant_rows(report: dict) -> list[list[str]]:
    experiment, names = report["experiment"], list(report["summary"])
    variants = [experiment.variant(n) for n in names]
    setup = [
        ["adapter", *(v.adapter or "base" if v else "—" for v in variants)],
        ["RAG", *(("on" if v.rag else "off") if v else "—" for v in variants)],
        ["weight", *(fmt(v.weight, 2) if v else "—" for v in variants)],
        ["requests", *(str(report["counts"][n]["requests"]) for n in names)],
        ["rated", *(str(report["counts"][n]["rated"]) for n in names)],
    ]
    return setup + [
        [m.label, *(fmt(report["summary"][n][m.key], m.digits) for n in names)] for m in AB_METRICS
    ]


def delta_rows(report: dict) -> list[list[str]]:
    cells: dict[str, list[str]] = {m.key: [m.label] for m in AB_METRICS}
    for _, metric, interval in report["deltas"]:
        cells[metric.key].append(_delta_cell(metric, interval))
    return list(cells.values())


def write_report(report: dict, out: Path) -> dict[str, Path]:
    """report.md, report.html, charts/*.png and summary.json in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    charts = draw_charts(report["summary"], AB_METRICS, out / "charts")
    text = markdown(report, charts)
    title = f"ragtune A/B experiment {report['experiment'].name}"
    page = HTML_TEMPLATE.replace("ragtune evaluation", title).replace(
        "{body}", markdown_to_html(text.split("\n"))
    )
    files = {"markdown": out / "report.md", "html": out / "report.html", "summary": out / "summary.json"}
    files["markdown"].write_text(text, encoding="utf-8")
    files["html"].write_text(page, encoding="utf-8")
    summary = {
        "experiment": report["experiment"].model_dump(),
        "counts": report["counts"],
        "summary": report["summary"],
        "deltas": [
            {
                "variant": n,
                "metric": m.key,
                "delta": i.mean,
                "low": i.low,
                "high": i.high,
                "significant": i.significant,
            }
            for n, m, i in report["deltas"]
        ],
        "verdicts": report["verdicts"],
    }
    files["summary"].write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return files


def show(report: dict, console: Console | None = None) -> None:
    console = console or Console()
    names, control = list(report["summary"]), report["control"]
    print_table(f"A/B experiment {report['experiment'].name}", ["", *names], variant_rows(report), console)
    header = ["metric", *(f"{n} vs {control}" for n in names[1:])]
    print_table(
        "variant − control with 95% bootstrap intervals (* excludes zero)",
        header,
        delta_rows(report),
        console,
    )
    for line in report["verdicts"]:
        console.print(line, highlight=False)


def _delta_cell(metric: Metric, interval: Interval) -> str:
    if interval.n == 0:
        return "—"
    mean, low, high = (_amount(metric, x, unit=False) for x in (interval.mean, interval.low, interval.high))
    return f"{mean} [{low}, {high}]" + (" *" if interval.significant else "")


def _amount(metric: Metric, value: float, unit: bool = True) -> str:
    """Rates in percentage points, latency in seconds."""
    if metric.key in _RATES:
        return f"{value * 100:+.1f}" + (" points" if unit else "")
    return f"{value:+.{metric.digits}f}" + (" s" if unit else "")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch)) if epoch else "—"
