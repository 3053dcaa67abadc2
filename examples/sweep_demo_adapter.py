"""The small sweep that chose the demo adapter's rank and learning rate: each setting trains one epoch on
half of the recipe's training split (what 2 CPU cores afford; docs/decisions/demo-recipe.md) and is scored by
its validation loss on the recipe's validation split (a third of examples/eval/validation.jsonl; never the
held-out examples/eval/questions.jsonl). Writes the table to examples/training/demo-sweep.md; the winner goes
into demo-recipe.yaml, whose own run (all the data, more epochs) keeps its best epoch by validation loss.

    .venv/bin/ragtune kb sync examples/knowledge --collection demo
    .venv/bin/python examples/sweep_demo_adapter.py [--epochs 1] [--share 0.5]
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

# This folder comes first on sys.path and its knowledge/ folder would shadow the package: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
from core.settings import Settings
from ragtune.cli_train import train_recipe
from ragtune.demo_adapter import load_recipe, recipe_data, recipe_settings

OUT = Path(__file__).parent / "training" / "demo-sweep.md"
GRID = [(8, 2e-3), (16, 1e-3), (16, 2e-3)]  # (rank, learning rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--share", type=float, default=0.5, help="share of the training split each run gets")
    args = parser.parse_args()
    recipe, settings = load_recipe(), Settings()
    train_count, rows = len(_train_split(recipe, settings)), []
    recipe.max_samples = max(1, round(train_count * args.share))
    for number, (rank, rate) in enumerate(GRID, start=1):
        print(f"\n=== sweep {number}/{len(GRID)}: rank {rank}, learning rate {rate} ===")
        started = time.perf_counter()
        result = train_recipe(
            recipe,
            settings,
            f"demo-sweep-{number}",
            lora_r=rank,
            lora_alpha=2 * rank,
            learning_rate=rate,
            epochs=args.epochs,
            eval_steps=10_000,  # evaluated once, at the end
        )
        loss = result.info.validation_loss
        rows.append((rank, rate, recipe.max_samples, args.epochs, loss, time.perf_counter() - started))
        shutil.rmtree(result.output_dir)  # only the figures are kept
        _write(rows)


def _train_split(recipe, settings):
    return recipe_data(recipe, recipe_settings(recipe, settings)).train


def _write(rows) -> None:
    lines = [
        "# Demo adapter sweep",
        "",
        "Written by `examples/sweep_demo_adapter.py`. Validation: the recipe's validation split of",
        "examples/eval/validation.jsonl, built retrieval-aware like training (sources retrieved from the demo",
        "collection, a share with the gold source left out). Lower is better.",
        "",
        "| rank | learning rate | training samples | epochs | validation loss | minutes |",
        "|---:|---:|---:|---:|---:|---:|",
        *(f"| {r} | {lr:g} | {n} | {ep:g} | {loss:.3f} | {s / 60:.1f} |" for r, lr, n, ep, loss, s in rows),
        "",
    ]
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
