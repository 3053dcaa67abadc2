"""Adds the metrics to result rows, averages them per combination, and compares combinations pairwise
with paired bootstrap intervals."""

from dataclasses import dataclass
from itertools import combinations as pairs

from evaluation import metrics
from evaluation.bootstrap import paired_bootstrap
from evaluation.facts import missing_facts
from rails.groundedness import GroundednessChecker


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool | None  # None: neither (answer length)
    digits: int = 3


METRICS = [
    Metric(key="key_fact_accuracy", label="Key-fact accuracy", higher_is_better=True),
    Metric(key="rouge_l", label="ROUGE-L", higher_is_better=True),
    Metric(key="chrf", label="chrF", higher_is_better=True, digits=1),
    Metric(key="recall_at_k", label="Recall@k", higher_is_better=True),
    Metric(key="mrr", label="MRR", higher_is_better=True),
    Metric(key="groundedness", label="Groundedness", higher_is_better=True),
    Metric(key="citation_correctness", label="Citation correctness", higher_is_better=True),
    Metric(key="refusal_accuracy", label="Refusal accuracy", higher_is_better=True),
    Metric(key="false_refusal", label="False refusals", higher_is_better=False),
    Metric(key="answer_length", label="Answer length (words)", higher_is_better=None, digits=1),
    Metric(key="hit_max_tokens", label="Ended at max_tokens", higher_is_better=False),
    Metric(key="latency_s", label="Latency (s)", higher_is_better=False, digits=2),
    Metric(key="tokens_per_s", label="Tokens/s", higher_is_better=True, digits=1),
    Metric(key="judge_correctness", label="Judge correctness", higher_is_better=True, digits=2),
    Metric(key="judge_helpfulness", label="Judge helpfulness", higher_is_better=True, digits=2),
    Metric(key="judge_style", label="Judge style", higher_is_better=True, digits=2),
    Metric(key="human_rating", label="Human rating", higher_is_better=True, digits=2),
]
METRIC_BY_KEY = {m.key: m for m in METRICS}


def score_row(row: dict, checker: GroundednessChecker | None, k: int) -> dict:
    """The row with every metric that applies to it (None where one does not)."""
    answer, reference, gold = row["answer"], row["reference_answer"], row.get("gold_sources") or []
    sources = [c.get("source", "") for c in row["citations"]]
    refused = metrics.is_refusal(answer)
    rag_on = row["rag"] and row["answerable"]
    seconds, tokens = row["latency_s"], row.get("completion_tokens")
    facts = (row.get("key_facts") or []) if row["answerable"] else []
    missing = missing_facts(answer, facts)
    row.update(
        key_fact_accuracy=float(not missing) if facts else None,  # all stated, or not
        missing_facts=missing,
        rouge_l=metrics.rouge_l(answer, reference) if reference else None,
        chrf=metrics.chrf(answer, reference) if reference else None,
        recall_at_k=metrics.recall_at_k(sources, gold, k) if rag_on else None,
        mrr=metrics.reciprocal_rank(sources, gold) if rag_on else None,
        citation_correctness=metrics.citation_correctness(answer, sources, gold) if rag_on else None,
        groundedness=None,
        refusal_accuracy=None if row["answerable"] else float(refused),
        false_refusal=float(refused) if row["answerable"] else None,
        answer_length=metrics.answer_length(answer),
        hit_max_tokens=float(row.get("finish_reason") == "length"),
        tokens_per_s=tokens / seconds if tokens and seconds > 0 else None,
    )
    if checker and row["citations"] and not refused:
        row["groundedness"] = checker.score(answer, [c.get("snippet", "") for c in row["citations"]])
    return row


def present_metrics(rows: list[dict]) -> list[Metric]:
    """The metrics that have at least one value in these rows (judge and human ratings are optional)."""
    return [m for m in METRICS if any(r.get(m.key) is not None for r in rows)]


def summarize(rows: list[dict], labels: list[str]) -> dict[str, dict[str, float | None]]:
    """Mean of each metric per combination, over the rows where it applies."""
    table: dict[str, dict[str, float | None]] = {}
    for label in labels:
        mine = [r for r in rows if r["combination"] == label]
        table[label] = {}
        for metric in METRICS:
            values = [r[metric.key] for r in mine if r.get(metric.key) is not None]
            table[label][metric.key] = sum(values) / len(values) if values else None
    return table


def compare(rows: list[dict], labels: list[str], samples: int, seed: int) -> list[dict]:
    """For every pair of combinations (b against a, in the given order) and metric: the mean paired
    difference b - a over shared questions with its 95% bootstrap interval."""
    by_key = {(r["combination"], r["question_id"]): r for r in rows}
    questions = list(dict.fromkeys(r["question_id"] for r in rows))
    deltas = []
    for a, b in pairs(labels, 2):
        for metric in present_metrics(rows):
            paired = [
                (by_key[a, q][metric.key], by_key[b, q][metric.key])
                for q in questions
                if (a, q) in by_key and (b, q) in by_key
                and by_key[a, q].get(metric.key) is not None and by_key[b, q].get(metric.key) is not None
            ]
            if not paired:
                continue
            interval = paired_bootstrap([p[0] for p in paired], [p[1] for p in paired], samples, seed)
            deltas.append({"a": a, "b": b, "metric": metric.key, "delta": interval.mean, "low": interval.low,
                           "high": interval.high, "n": interval.n, "significant": interval.significant})
    return deltas
