"""Does an online-RL stage pay on the demo? The demo adapter (RAFT, examples/training/demo-recipe.yaml) against
the same adapter after `ragtune train rl`, both trained on the demo's validation questions only, compared by
`ragtune eval` on make eval's held-out questions (examples/eval/questions.jsonl, RAG on, the general-ability
check on examples/eval/general.jsonl); and GRPO against RLOO from the demo adapter on the same questions, the
same steps and seed. Each stage runs the ragtune command a user would, in a fresh process, timed, with its
peak memory (RSS), into OUT/stages.json; a stage already done is skipped, so the stages can run one at a time.

    .venv/bin/python benchmarks/rl_demo.py [--stage demo|compare|rl|eval|report|all] [--out reports/rl-demo]
        [--rl-steps 6] [--compare-steps 5] [--write-docs]
"""

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parent))
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

from demo_stages import RAGTUNE, load_stages, timed

VALIDATION = "examples/eval/validation.jsonl"
HELD_OUT = "examples/eval/questions.jsonl"
STAGES = ("demo", "compare", "rl", "eval", "report")
# The eval metrics the decision rests on, as ragtune eval's summary.json names them.
METRICS = {
    "key_fact_accuracy": "Key-fact accuracy",
    "groundedness": "Groundedness",
    "citation_correctness": "Citation correctness",
    "refusal_accuracy": "Refusal accuracy (unanswerable)",
    "false_refusal": "False refusals (answerable)",
    "rouge_l": "ROUGE-L",
    "chrf": "chrF",
    "answer_length": "Answer length (words)",
}


def rl_command(name: str, steps: int, algorithm: str, out: Path, resume: bool = True) -> list[str]:
    """`ragtune train rl` from the demo adapter on the validation questions, resuming a stopped run (resume)
    or starting afresh."""
    resume = resume and any((out / "home" / "checkpoints" / name).glob("checkpoint-*"))
    return [RAGTUNE, "train", "rl", "--questions", VALIDATION, "--from", "demo", "--name", name,
            "--collection", "demo", "--algorithm", algorithm, "--max-steps", str(steps), "--progress-lines",
            "--overwrite", *(["--resume"] if resume else [])]


def reward_log(out: Path, name: str) -> list[float]:
    """The mean reward logged at each step of run `name` (its last checkpoint's trainer state)."""
    states = sorted((out / "home" / "checkpoints" / name).glob("checkpoint-*/trainer_state.json"))
    history = json.loads(states[-1].read_text(encoding="utf-8"))["log_history"] if states else []
    return [entry["reward"] for entry in history if "reward" in entry]


def stage_demo(out: Path, args) -> None:
    timed("kb-sync", [RAGTUNE, "kb", "sync", "examples/knowledge", "--collection", "demo"], out)
    timed("demo", [RAGTUNE, "adapters", "ensure-demo"], out)


# Every step's mean reward logged (and a checkpoint kept, so a stopped run resumes).
EVERY_STEP = {"RAGTUNE_TRAINING__LOGGING_STEPS": "1"}


def stage_compare(out: Path, args) -> None:
    """One question a step, so each algorithm gets more steps for the time; each run from its first step, so
    both see the same questions in the same order."""
    for algorithm in ("grpo", "rloo"):
        name = f"compare-{algorithm}"
        if name not in load_stages(out):
            command = rl_command(name, args.compare_steps, algorithm, out, resume=False)
            timed(name, command, out, **EVERY_STEP, RAGTUNE_TRAINING__RL_QUESTIONS_PER_STEP="1")


def stage_rl(out: Path, args) -> None:
    timed("rl", rl_command("demo-rl", args.rl_steps, args.algorithm, out), out, **EVERY_STEP)


def stage_eval(out: Path, args) -> None:
    timed("eval", [RAGTUNE, "eval", "--questions", HELD_OUT, "--models", "demo,demo-rl", "--rag", "on",
                   "--out", str(out / "eval")], out)


def stage_report(out: Path, args) -> None:
    from docs_table import markdown_table, write_table

    stages = load_stages(out)
    tables = []
    compared = [a for a in ("grpo", "rloo") if f"compare-{a}" in stages]
    if compared:
        rows = []
        for algorithm in compared:
            stage, rewards = stages[f"compare-{algorithm}"], reward_log(out, f"compare-{algorithm}")
            rows.append([algorithm.upper(), " / ".join(f"{r:.2f}" for r in rewards),
                         f"{sum(rewards) / max(len(rewards), 1):.3f}",
                         f"{stage['wall_s'] / max(len(rewards), 1):.0f}", stage["peak_rss_gib"]])
        tables.append(markdown_table(
            ["algorithm", "mean reward at each step (same questions)", "mean", "s / step", "peak RSS (GiB)"],
            rows))
    if (out / "eval" / "summary.json").exists():
        summary = json.loads((out / "eval" / "summary.json").read_text(encoding="utf-8"))
        means, deltas = summary["summary"], {
            d["metric"]: d for d in summary["deltas"] if d["a"] == "demo+RAG" and d["b"] == "demo-rl+RAG"}
        rows = []
        for key, label in METRICS.items():
            a, b = means["demo+RAG"].get(key), means["demo-rl+RAG"].get(key)
            if a is None or b is None:
                continue
            digits = 1 if key in ("chrf", "answer_length") else 3
            delta = deltas.get(key)
            interval = (f"{delta['delta']:+.{digits}f} [{delta['low']:+.{digits}f}, {delta['high']:+.{digits}f}]"
                        + (" *" if delta["significant"] else "")) if delta else "—"
            rows.append([label, f"{a:.{digits}f}", f"{b:.{digits}f}", interval])
        for delta in summary["general_deltas"]:
            if delta["a"] == "demo" and delta["b"] == "demo-rl" and delta["metric"] in ("rouge_l", "chrf",
                                                                                          "false_refusal"):
                digits = 1 if delta["metric"] == "chrf" else 3
                rows.append([f"General ability: {METRICS.get(delta['metric'], delta['metric'])}", "", "",
                             f"{delta['delta']:+.{digits}f} [{delta['low']:+.{digits}f}, "
                             f"{delta['high']:+.{digits}f}]" + (" *" if delta["significant"] else "")])
        tables.append(markdown_table(["metric (held-out questions, RAG on)", "demo", "demo+RL",
                                      "demo+RL − demo (95% CI)"], rows))
    costs = [[name, f"{stages[name]['wall_s'] / 60:.1f} min", stages[name]["peak_rss_gib"]]
             for name in ("demo", "compare-grpo", "compare-rloo", "rl", "eval") if name in stages]
    tables.append(markdown_table(["stage", "wall time", "peak RSS (GiB)"], costs))
    text = "\n\n".join(tables)
    print(text)
    if args.write_docs:
        write_table("rl", text, note=(
            f"`benchmarks/rl_demo.py`: RL from the demo adapter on the validation questions "
            f"({args.rl_steps} steps; the comparison {args.compare_steps} steps of one question each), settings "
            "at their defaults (docs/settings.md, training.rl_*); the eval on make eval's held-out questions, "
            "RAG on, with the server's decoding. * : the 95% interval excludes zero."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=[*STAGES, "all"], default="all")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "rl-demo")
    parser.add_argument("--rl-steps", type=int, default=6)
    parser.add_argument("--compare-steps", type=int, default=5)
    parser.add_argument("--algorithm", choices=["grpo", "rloo"], default="grpo")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {"demo": stage_demo, "compare": stage_compare, "rl": stage_rl, "eval": stage_eval, "report": stage_report}
    for stage in STAGES if args.stage == "all" else (args.stage,):
        runs[stage](args.out.resolve(), args)


if __name__ == "__main__":
    main()
