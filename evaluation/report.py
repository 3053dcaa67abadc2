"""Markdown and HTML reports of a run: summary table, charts, deltas with 95% intervals, the general-ability
check, and the questions where two combinations differ most, side by side with their citations."""

import html
import json
from itertools import combinations as pairs
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core.language import LANGUAGES, detect_language
from core.prompt import citation_marker
from core.settings import DecodingSettings
from evaluation.bootstrap import mean_interval
from evaluation.charts import draw_charts
from evaluation.scoring import METRIC_BY_KEY, Metric, compare, present_metrics, summarize
from evaluation.store import load_run

TOP_DIFFERENCES = 3
# Shown for zh and en apart: what the answers say (facts, overlap) and whether they decline.
LANGUAGE_METRICS = ("key_fact_accuracy", "rouge_l", "chrf", "refusal_accuracy", "false_refusal")
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese"}
DECODING_FIELDS = tuple(DecodingSettings.model_fields)


def fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def fmt_delta(d: dict) -> str:
    digits = METRIC_BY_KEY[d["metric"]].digits
    mark = " *" if d["significant"] else ""
    return f"{d['delta']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]{mark}"


def summary_rows(summary: dict, metrics: list[Metric]) -> list[list[str]]:
    """One row per metric, one column per combination."""
    return [[m.label, *(fmt(values[m.key], m.digits) for values in summary.values())] for m in metrics]


def delta_rows(deltas: list[dict], metrics: list[Metric], only: list[tuple[str, str]] | None = None) -> tuple:
    """(header, rows): one row per metric, one column per pair of combinations ("b vs a")."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for d in deltas:
        if only is None or (d["a"], d["b"]) in only:
            cells.setdefault((d["a"], d["b"]), {})[d["metric"]] = fmt_delta(d)
    header = ["metric", *(f"{b} vs {a}" for a, b in cells)]
    return header, [[m.label, *(c.get(m.key, "—") for c in cells.values())] for m in metrics]


def print_table(title: str, header: list[str], rows: list[list[str]], console: Console) -> None:
    table = Table(*header, title=title)
    for column in table.columns[1:]:
        column.justify = "right"
    for row in rows:
        table.add_row(*row)
    console.print(table)


def language_of(row: dict) -> str:
    return row.get("language") or detect_language(row["question"])  # runs before languages were recorded


def by_language(rows: list[dict], labels: list[str], samples: int, seed: int) -> dict:
    """zh and en apart: per language and combination, the mean of each of LANGUAGE_METRICS over that
    language's questions, and key-fact accuracy's 95% bootstrap interval (how sure the share itself is)."""
    table: dict[str, dict] = {}
    for language in LANGUAGES:
        mine = [r for r in rows if language_of(r) == language]
        if not mine:
            continue
        means = summarize(mine, labels)
        table[language] = {"questions": len({r["question_id"] for r in mine}), "combinations": {}}
        for label in labels:
            stated = [
                r["key_fact_accuracy"]
                for r in mine
                if r["combination"] == label and r.get("key_fact_accuracy") is not None
            ]
            interval = mean_interval(stated, samples, seed) if stated else None
            table[language]["combinations"][label] = {
                **{key: means[label][key] for key in LANGUAGE_METRICS},
                "key_fact_interval": [interval.low, interval.high] if interval else None,
                "key_fact_questions": len(stated),
            }
    return table


def language_rows(table: dict, labels: list[str]) -> list[list[str]]:
    """One row per metric and language (a metric no question of that language has is left out)."""
    rows = []
    for key in LANGUAGE_METRICS:
        metric = METRIC_BY_KEY[key]
        for language, part in table.items():
            cells = [part["combinations"][label] for label in labels]
            if all(c[key] is None for c in cells):
                continue
            if key == "key_fact_accuracy":
                values = [fact_cell(c) for c in cells]
            else:
                values = [fmt(c[key], metric.digits) for c in cells]
            rows.append([metric.label, f"{language} ({part['questions']})", *values])
    return rows


def fact_cell(cell: dict) -> str:
    if cell["key_fact_accuracy"] is None:
        return "—"
    low, high = cell["key_fact_interval"]
    return f"{cell['key_fact_accuracy']:.2f} [{low:.2f}, {high:.2f}] (n={cell['key_fact_questions']})"


def decoding_lines(run: dict) -> list[str]:
    """What each model answered with: the server's defaults as GET /v1/models listed them."""
    if "decoding" not in run:
        return ["- not recorded (a run from before the report stated it)"]
    lines = []
    for name, decoding in run["decoding"].items():
        if not decoding:
            lines.append(f"- {name}: not listed by the server (its GET /v1/models gives no `decoding`)")
            continue
        shown = [f"{k} {decoding[k]}" for k in DECODING_FIELDS if decoding.get(k) is not None]
        shown += [f"{k} {v}" for k, v in decoding.items() if k not in DECODING_FIELDS and v is not None]
        lines.append(f"- {name}: {', '.join(shown)}")
    return lines


def differing_pairs(labels: list[str], rows: list[dict]) -> list[tuple[str, str]]:
    """Pairs of combinations that differ in model at the same RAG setting (the tuning question)."""
    rag_of = {r["combination"]: (r["model"], r["rag"]) for r in rows}
    found = [
        (a, b) for a, b in pairs(labels, 2) if rag_of[a][1] == rag_of[b][1] and rag_of[a][0] != rag_of[b][0]
    ]
    return found or list(pairs(labels, 2))[:1]


def top_differences(rows: list[dict], a: str, b: str) -> tuple[Metric, list[tuple[dict, dict]]]:
    """The questions where b and a differ most on the best available quality metric."""
    key = next(
        k
        for k in ("human_rating", "judge_correctness", "rouge_l", "chrf", "answer_length")
        if any(r.get(k) is not None for r in rows)
    )
    by_key = {(r["combination"], r["question_id"]): r for r in rows}
    both = [(by_key[a, q], by_key[b, q]) for (label, q) in by_key if label == a and (b, q) in by_key]
    both = [p for p in both if None not in (p[0].get(key), p[1].get(key)) and p[0][key] != p[1][key]]
    both.sort(key=lambda p: abs(p[1][key] - p[0][key]), reverse=True)
    return METRIC_BY_KEY[key], both[:TOP_DIFFERENCES]


def general_verdicts(deltas: list[dict]) -> list[str]:
    """Per adapter against base: does it fall behind (an interval wholly on the wrong side) on a quality metric?"""
    verdicts: dict[tuple[str, str], list[str]] = {}
    for d in deltas:
        metric = METRIC_BY_KEY[d["metric"]]
        worse = (
            d["significant"]
            and metric.higher_is_better is not None
            and (d["delta"] > 0) != metric.higher_is_better
        )
        behind = verdicts.setdefault((d["a"], d["b"]), [])
        if worse and metric.key not in ("latency_s", "tokens_per_s"):
            behind.append(metric.label)
    return [
        f"{b} falls behind {a} on {', '.join(labels)}"
        if labels
        else f"{b} holds up against {a}: no significant drop in general ability"
        for (a, b), labels in verdicts.items()
    ]


def citation_lines(row: dict) -> list[str]:
    return [
        f"{citation_marker(n)} {c.get('title') or c.get('source', '')} ({c.get('source', '')}, "
        f"score {fmt(c.get('score'), 3)})"
        for n, c in enumerate(row["citations"], start=1)
    ]


def build(out: Path) -> dict:
    """Everything a report shows, computed from the run folder; also draws the charts."""
    run, rows = load_run(out)
    heldout = [r for r in rows if r.get("set", "heldout") == "heldout"]
    general = [r for r in rows if r.get("set") == "general"]
    conversations = [r for r in rows if r.get("set") == "conversation"]
    labels, samples, seed = run["labels"], run["bootstrap_samples"], run["seed"]
    summary = summarize(heldout, labels)
    metrics = present_metrics(heldout)
    report = {
        "run": run,
        "metrics": metrics,
        "summary": summary,
        "deltas": compare(heldout, labels, samples, seed),
        "by_language": by_language(heldout, labels, samples, seed),
        "conversation_metrics": present_metrics(conversations),
        "conversation_summary": summarize(conversations, labels) if conversations else {},
        "conversation_deltas": compare(conversations, labels, samples, seed),
        "conversation_by_language": by_language(conversations, labels, samples, seed),
        "charts": draw_charts(summary, metrics, out / "charts"),
        "differences": [
            (a, b, *top_differences(heldout, a, b)) for a, b in differing_pairs(run["labels"], heldout)
        ],
        "general_metrics": present_metrics(general),
        "general_summary": summarize(general, run["general_labels"]) if general else {},
        "general_deltas": compare(general, run["general_labels"], run["bootstrap_samples"], run["seed"]),
    }
    return report


def markdown(report: dict) -> str:
    run, metrics = report["run"], report["metrics"]
    lines = [
        "# ragtune evaluation",
        "",
        f"Questions: `{run['questions']}` ({run['question_count']}), server: {run['base_url']}, k = {run['top_k']}, "
        + f"groundedness threshold {run['groundedness_threshold']} (embedding cosine, see rails/groundedness.py).",
        "",
        "## Decoding",
        "",
        "The evaluation sends no temperature, top_p or penalties: each model answered with the server's "
        + "defaults for it, as its GET /v1/models lists them (what a client that sets none gets)"
        + (f"; answers capped at {run['max_tokens']} tokens." if run.get("max_tokens") else "."),
        "",
        *decoding_lines(run),
        "",
        "## Summary",
        "",
        "Key-fact accuracy: the share of answers that state every key fact of their question (numbers, "
        + "durations, codes, names; number forms normalised, evaluation/facts.py).",
        "",
        *md_table(["metric", *report["summary"]], summary_rows(report["summary"], metrics)),
        "",
        *language_section(report["by_language"], run["labels"], "questions"),
        "## Differences with 95% paired bootstrap intervals",
        "",
        f"b − a per metric, {run['bootstrap_samples']} resamples of the questions (seed {run['seed']}); "
        + "`*` marks an interval that excludes zero.",
        "",
        *md_table(*delta_rows(report["deltas"], metrics)),
        "",
    ]
    if report["conversation_summary"]:
        cm = report["conversation_metrics"]
        lines += [
            "## Conversations (held-out, scored on the final turn)",
            "",
            f"`{run['conversations']}` ({run['conversation_count']} conversations): each whole "
            + "conversation is sent (earlier assistant turns are fixed text from the file) and the answer "
            + "to its last user turn is scored with the same metrics.",
            "",
            *md_table(
                ["metric", *report["conversation_summary"]], summary_rows(report["conversation_summary"], cm)
            ),
            "",
            *language_section(report["conversation_by_language"], run["labels"], "conversations"),
            *conversation_deltas(report["conversation_deltas"], cm),
            "",
        ]
    if report["general_summary"]:
        gm = report["general_metrics"]
        lines += [
            "## General ability (everyday questions, RAG off)",
            "",
            *md_table(["metric", *report["general_summary"]], summary_rows(report["general_summary"], gm)),
            "",
            *(md_table(*delta_rows(report["general_deltas"], gm)) if report["general_deltas"] else []),
            "",
            *(f"- {v}" for v in general_verdicts(report["general_deltas"])),
            "",
        ]
    lines += [
        "## Charts",
        "",
        *(f"![{METRIC_BY_KEY[k].label}]({path})" for k, path in report["charts"].items()),
        "",
    ]
    for a, b, metric, items in report["differences"]:
        lines += [f"## Where {a} and {b} differ most ({metric.label})", ""]
        for ra, rb in items:
            lines += [f"### {ra['question']}", "", f"Reference: {ra['reference_answer'] or '—'}", ""]
            missed = [md_cell(", ".join(r["missing_facts"]) or "none") for r in (ra, rb)]
            facts = [["key facts missing", *missed]]
            if ra.get("key_fact_accuracy") is None:
                facts = []
            lines += md_table(
                ["", a, b],
                [
                    ["answer", md_cell(ra["answer"]), md_cell(rb["answer"])],
                    [metric.label, fmt(ra[metric.key], metric.digits), fmt(rb[metric.key], metric.digits)],
                    *facts,
                    ["citations", *("<br>".join(map(md_cell, citation_lines(r))) or "—" for r in (ra, rb))],
                ],
            ) + [""]
    return "\n".join(lines)


def conversation_deltas(deltas: list[dict], metrics: list[Metric]) -> list[str]:
    if not deltas:
        return []
    return [
        "Differences b − a with 95% paired bootstrap intervals over the conversations:",
        "",
        *md_table(*delta_rows(deltas, metrics)),
    ]


def language_section(table: dict, labels: list[str], what: str) -> list[str]:
    if not table:
        return []
    counts = ", ".join(f"{part['questions']} {LANGUAGE_NAMES[lang]}" for lang, part in table.items())
    return [
        f"### English and Chinese apart ({what}: {counts})",
        "",
        "Key-fact accuracy with its 95% bootstrap interval over the questions that list key facts (n).",
        "",
        *md_table(["metric", "language (questions)", *labels], language_rows(table, labels)),
        "",
    ]


def md_cell(text: str) -> str:
    """Model output as a table cell: its HTML escaped (a Markdown viewer renders raw HTML, so an answer
    holding <img onerror=...> or <script> would run in the reader's browser), newlines as <br>."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", "<br>") or "—"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def html_page(report: dict) -> str:
    """The Markdown report's content as a standalone HTML page (tables, images, side-by-side answers)."""
    return HTML_TEMPLATE.replace("{body}", markdown_to_html(markdown(report).split("\n")))


def markdown_to_html(lines: list[str]) -> str:
    """Just the Markdown this module writes: headings, pipe tables, images, paragraphs."""
    out, table = [], []
    for line in [*lines, ""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                table.append(line)
            continue
        if table:
            cells = [[c.strip().replace("\\|", "|") for c in row.strip("|").split(" | ")] for row in table]
            head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
            body = "".join(
                "<tr>" + "".join(f"<td>{cell_html(c)}</td>" for c in row) + "</tr>" for row in cells[1:]
            )
            out.append(f"<table><tr>{head}</tr>{body}</table>")
            table = []
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("!["):
            alt, src = line[2:-1].split("](")
            out.append(f'<img src="{html.escape(src)}" alt="{html.escape(alt)}">')
        elif line.startswith("- "):
            out.append(f"<p>• {html.escape(line[2:])}</p>")
        elif line:
            out.append(f"<p>{html.escape(line).replace('`', '')}</p>")
    return "\n".join(out)


def cell_html(text: str) -> str:
    """A Markdown cell as HTML: md_cell escaped its text already, so it is unescaped first, not escaped twice."""
    return "<br>".join(html.escape(html.unescape(part)) for part in text.split("<br>"))


HTML_TEMPLATE = """<!doctype html><html><head><meta charset="utf-8"><title>ragtune evaluation</title><style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:14px}th{background:#f2f2f2}
img{margin:4px;border:1px solid #eee}</style></head><body>
{body}
</body></html>"""


def write_report(out: Path) -> dict:
    """(Re)renders report.md, report.html, charts/*.png and summary.json in the run folder."""
    report = build(out)
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    (out / "report.html").write_text(html_page(report), encoding="utf-8")
    summary = {
        k: report[k]
        for k in (
            "summary",
            "deltas",
            "by_language",
            "conversation_summary",
            "conversation_deltas",
            "conversation_by_language",
            "general_summary",
            "general_deltas",
        )
    }
    summary["decoding"] = report["run"].get("decoding")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return report


def show(report: dict, out: Path, console: Console | None = None) -> None:
    """Prints the summary, the deltas that answer "does tuning pay?" and the general check."""
    console = console or Console()
    print_table(
        "held-out questions",
        ["metric", *report["summary"]],
        summary_rows(report["summary"], report["metrics"]),
        console,
    )
    labels = report["run"]["labels"]
    if report["by_language"]:
        header = ["metric", "language (questions)", *labels]
        print_table(
            "held-out questions, English and Chinese apart",
            header,
            language_rows(report["by_language"], labels),
            console,
        )
    tuning = [(a, b) for a, b, *_ in report["differences"]]
    print_table(
        "b − a with 95% bootstrap intervals (* excludes zero)",
        *delta_rows(report["deltas"], report["metrics"], tuning),
        console,
    )
    if report["conversation_summary"]:
        conversations = report["conversation_summary"]
        print_table(
            "conversations (final turn)",
            ["metric", *conversations],
            summary_rows(conversations, report["conversation_metrics"]),
            console,
        )
        header = ["metric", "language (conversations)", *labels]
        print_table(
            "conversations, English and Chinese apart",
            header,
            language_rows(report["conversation_by_language"], labels),
            console,
        )
    console.print("decoding (the served defaults):")
    for line in decoding_lines(report["run"]):
        console.print(line)
    if report["general_summary"]:
        general, metrics = report["general_summary"], report["general_metrics"]
        print_table(
            "general ability (everyday questions, RAG off)",
            ["metric", *general],
            summary_rows(general, metrics),
            console,
        )
        if report["general_deltas"]:
            print_table("general ability: b − a", *delta_rows(report["general_deltas"], metrics), console)
        for verdict in general_verdicts(report["general_deltas"]):
            console.print(verdict)
    console.print(f"report: {out / 'report.md'} and report.html; rate answers in {out / 'ratings.csv'}")
