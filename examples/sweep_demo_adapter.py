"""The small sweep that chose the demo adapter's rank, learning rate, epochs and data size: each setting
trains on the recipe's training split and is scored by its best validation loss on the recipe's validation
split (a third of examples/eval/validation.jsonl; never the held-out examples/eval/questions.jsonl). Writes
the table to examples/training/demo-sweep.md; copy the winner into demo-recipe.yaml.

    .venv/bin/ragtune kb sync examples/knowledge --collection demo
    .venv/bin/python examples/sweep_demo_adapter.py [--epochs 2]
"""

import argparse
import shutil
import time
from pathlib import Path

from core.settings import Settings
from ragtune.cli_train import train_recipe
from ragtune.demo_adapter import load_recipe

OUT = Path(__file__).parent / "training" / "demo-sweep.md"
# (rank, learning rate, share of the training split)
GRID = [(8, 1e-3, 1.0), (16, 1e-3, 1.0), (16, 2e-3, 1.0), (16, 5e-4, 1.0), (16, 1e-3, 0.5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=float, default=2.0, help="the most epochs a run gets (early stopping)")
    args = parser.parse_args()
    recipe, settings = load_recipe(), Settings()
    train_count, rows = len(_train_split(recipe, settings)), []
    for number, (rank, rate, share) in enumerate(GRID, start=1):
        print(f"\n=== sweep {number}/{len(GRID)}: rank {rank}, learning rate {rate}, {share:.0%} of the data ===")
        recipe.max_samples = max(1, round(train_count * share))
        started = time.perf_counter()
        result = train_recipe(
            recipe, settings, f"demo-sweep-{number}", lora_r=rank, lora_alpha=2 * rank,
            learning_rate=rate, epochs=args.epochs,
        )  # fmt: skip
        evals = [(e["epoch"], e["eval_loss"]) for e in result.log_history if "eval_loss" in e]
        best_epoch, best = min(evals, key=lambda e: e[1])
        rows.append((rank, rate, recipe.max_samples, best, best_epoch, time.perf_counter() - started))
        shutil.rmtree(result.output_dir)  # only the figures are kept
        _write(rows, args.epochs)


def _train_split(recipe, settings):
    from ragtune.cli_train import _prepare
    from ragtune.demo_adapter import recipe_settings

    return _prepare(recipe.data, recipe_settings(recipe, settings), None, None).train


def _write(rows, epochs) -> None:
    lines = [
        "# Demo adapter sweep",
        "",
        f"Written by `examples/sweep_demo_adapter.py` (at most {epochs:g} epochs, early stopping on validation",
        "loss; the best checkpoint counts). Validation: the recipe's validation split of",
        "examples/eval/validation.jsonl, built retrieval-aware like training.",
        "",
        "| rank | learning rate | training samples | best validation loss | at epoch | minutes |",
        "|---:|---:|---:|---:|---:|---:|",
        *(f"| {r} | {lr:g} | {n} | {loss:.3f} | {ep:.2f} | {s / 60:.1f} |" for r, lr, n, loss, ep, s in rows),
        "",
    ]
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
