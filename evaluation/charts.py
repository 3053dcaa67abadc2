"""One bar chart PNG per metric, combinations side by side (matplotlib, Agg backend: no display needed)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from evaluation.scoring import Metric


def bar_chart(metric: Metric, values: dict[str, float | None], path: Path) -> None:
    labels = [label for label, value in values.items() if value is not None]
    heights = [values[label] for label in labels]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(labels) + 1), 3.2))
    bars = ax.bar(labels, heights, color=[("#4c72b0" if "+RAG" in lb else "#a1a9b8") for lb in labels])
    ax.bar_label(bars, fmt=f"%.{metric.digits}f", fontsize=8)
    direction = {True: " (higher is better)", False: " (lower is better)", None: ""}[metric.higher_is_better]
    ax.set_title(metric.label + direction, fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_charts(summary: dict[str, dict[str, float | None]], metrics: list[Metric], folder: Path) -> dict[str, str]:
    """Writes folder/<metric>.png for each metric; returns metric key -> file name relative to the report."""
    files = {}
    for metric in metrics:
        values = {label: row[metric.key] for label, row in summary.items()}
        if any(v is not None for v in values.values()):
            bar_chart(metric, values, folder / f"{metric.key}.png")
            files[metric.key] = f"{folder.name}/{metric.key}.png"
    return files
