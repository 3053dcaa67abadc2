"""Does KTO on thumbs pay on the demo? A thumbs log generated honestly, then KTO from the demo adapter on it,
compared with the demo adapter by `ragtune eval` on make eval's held-out questions; and what each stage of
preference training costs on this machine.

- thumbs: `ragtune serve` answers the demo's validation questions (examples/eval/validation.jsonl, what the demo
  recipe trains on; never the held-out set) with the demo adapter and RAG on, as a client asks them; each
  answer gets a thumb through POST /v1/feedback from its key-fact check (evaluation/facts.py): the validation
  questions list no key facts, so they are the numbers of the reference answer ("45-day" -> 45), all of which
  the answer must state; an unanswerable question's answer is up when it declines (evaluation's refusal
  detector). Answerable questions whose reference holds no number get no thumb.
- export: `ragtune data export` writes kto.jsonl from that log (with the sources each answer was shown).
- kto: `ragtune train kto --from demo` on it. reward: `ragtune train reward` on the demo preference pairs
  (examples/training/preferences.jsonl), for its cost.
- eval: `ragtune eval` of demo and demo-kto, RAG on, on examples/eval/questions.jsonl (with the general check).

Each stage runs in a fresh process, timed, with its peak memory (RSS), into OUT/stages.json; a stage already
done is skipped unless named with --stage. The demo adapter and its knowledge base can be copied from another
home (--demo-home) instead of trained again.

    .venv/bin/python benchmarks/kto_demo.py [--stage demo|thumbs|export|kto|reward|eval|report|all]
        [--out reports/kto-demo] [--demo-home reports/rl-demo/home] [--kto-steps N] [--write-docs]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

from demo_stages import RAGTUNE, environment, load_stages, save_stages, timed

VALIDATION = REPO / "examples" / "eval" / "validation.jsonl"
HELD_OUT = "examples/eval/questions.jsonl"
PAIRS = "examples/training/preferences.jsonl"
STAGES = ("demo", "thumbs", "export", "kto", "reward", "eval", "report")
METRICS = {
    "key_fact_accuracy": "Key-fact accuracy",
    "groundedness": "Groundedness",
    "citation_correctness": "Citation correctness",
    "refusal_accuracy": "Refusal accuracy (unanswerable)",
    "false_refusal": "False refusals (answerable)",
    "rouge_l": "ROUGE-L",
}


def stage_demo(out: Path, args) -> None:
    """The demo adapter and its knowledge base: copied from another home when given, else synced and
    trained; `ensure-demo` then checks it is the current recipe's."""
    home = out / "home"
    if args.demo_home:
        for part in ("kb", "adapters/demo"):
            shutil.rmtree(home / part, ignore_errors=True)
            shutil.copytree(Path(args.demo_home) / part, home / part)
        trained = load_stages(Path(args.demo_home).parent).get("demo")  # its training's cost, where measured
        if trained:
            save_stages(out, {**load_stages(out), "demo": trained})
        subprocess.run([RAGTUNE, "adapters", "ensure-demo"], cwd=REPO, env=environment(out), check=True)
    else:
        timed("kb-sync", [RAGTUNE, "kb", "sync", "examples/knowledge", "--collection", "demo"], out)
        timed("demo", [RAGTUNE, "adapters", "ensure-demo"], out)


def key_facts(reference: str) -> list[str]:
    """The numbers a correct answer must state: every number the reference answer writes in digits (not "a
    new one"), as evaluation's key-fact matcher reads them, so "forty-five" in an answer states "45-day"."""
    from evaluation.facts import tokens

    written = re.findall(r"\d[\d,.:]*", reference)
    return list(dict.fromkeys(t for number in written for t in tokens(number) if t[0].isdigit()))


def thumb(question, answer: str) -> str | None:
    """up or down from the key-fact check; None when the question gives nothing to check."""
    from evaluation.facts import missing_facts
    from evaluation.metrics import is_refusal

    if not question.answerable:
        return "up" if is_refusal(answer) else "down"
    facts = key_facts(question.reference_answer)
    if not facts:
        return None
    return "down" if missing_facts(answer, facts) else "up"


def ask_and_rate(out: Path) -> None:
    """In a process of its own (the thumbs stage): serve, ask, rate through the API."""
    import httpx
    import openai

    from core.settings import Settings
    from evaluation.questions import load_questions
    from evaluation.runner import Combination, chat
    from evaluation.server import api_key, started_server

    settings = Settings(home=out / "home")
    questions = load_questions(VALIDATION)
    rows, counts = [], {"up": 0, "down": 0, "none": 0}
    rag = {"enabled": True, "top_k": settings.retrieval.top_k}
    with started_server(settings) as url:
        key = api_key(settings.server)
        client = openai.OpenAI(base_url=url, api_key=key, timeout=600)
        combo = Combination("demo", "demo", True)

        def answer(question):
            what = f"question {question.id}"
            return chat(client, combo, question.chat_messages(), settings.evaluation.max_tokens, rag, what)

        with ThreadPoolExecutor(settings.evaluation.concurrency) as pool:  # as ragtune eval asks
            responses = list(pool.map(answer, questions))
        for question, response in zip(questions, responses):
            text = response.choices[0].message.content or ""
            rating = thumb(question, text)
            counts[rating or "none"] += 1
            if rating:
                httpx.post(
                    url.removesuffix("/v1") + "/v1/feedback",
                    json={"response_id": response.id, "rating": rating},
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=60,
                ).raise_for_status()
            rows.append({"question": question.question, "answer": text, "id": response.id, "rating": rating})
    (out / "thumbs.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    (out / "thumbs.json").write_text(json.dumps(counts), encoding="utf-8")
    print(counts)


def stage_thumbs(out: Path, args) -> None:
    timed("thumbs", [sys.executable, __file__, "--ask", "--out", str(out)], out)


def stage_export(out: Path, args) -> None:
    timed("export", [RAGTUNE, "data", "export", "--out", str(out / "export"), "--model", "demo"], out)


def stage_kto(out: Path, args) -> None:
    steps = ["--max-steps", str(args.kto_steps)] if args.kto_steps else []
    command = [RAGTUNE, "train", "kto", "--data", str(out / "export" / "kto.jsonl"), "--from", "demo"]
    timed("kto", [*command, "--name", "demo-kto", *steps, "--progress-lines", "--overwrite"], out)


def stage_reward(out: Path, args) -> None:
    command = [RAGTUNE, "train", "reward", "--data", PAIRS, "--name", "demo-judge", "--epochs", "1"]
    timed("reward", [*command, "--progress-lines", "--overwrite"], out)


def stage_eval(out: Path, args) -> None:
    command = [RAGTUNE, "eval", "--questions", HELD_OUT, "--models", "demo,demo-kto", "--rag", "on"]
    timed("eval", [*command, "--out", str(out / "eval")], out)


def interval(delta: dict | None, digits: int = 3) -> str:
    if not delta:
        return "—"
    text = f"{delta['delta']:+.{digits}f} [{delta['low']:+.{digits}f}, {delta['high']:+.{digits}f}]"
    return text + (" *" if delta["significant"] else "")


def stage_report(out: Path, args) -> None:
    from docs_table import markdown_table, this_machine, write_table

    stages, tables = load_stages(out), []
    thumbs = out / "thumbs.json"
    if thumbs.exists():
        counts = json.loads(thumbs.read_text(encoding="utf-8"))
        tables.append(
            f"Thumbs on the demo adapter's answers to the validation questions: {counts['up']} up, "
            f"{counts['down']} down, {counts['none']} not rated (no number in the reference answer)."
        )
    summary_file = out / "eval" / "summary.json"
    if summary_file.exists():
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        means = summary["summary"]
        deltas = {
            d["metric"]: d for d in summary["deltas"] if d["a"] == "demo+RAG" and d["b"] == "demo-kto+RAG"
        }
        rows = [
            [
                label,
                f"{means['demo+RAG'][key]:.3f}",
                f"{means['demo-kto+RAG'][key]:.3f}",
                interval(deltas.get(key)),
            ]
            for key, label in METRICS.items()
            if means["demo+RAG"].get(key) is not None and means["demo-kto+RAG"].get(key) is not None
        ]
        rows += [
            [f"General ability: {METRICS.get(d['metric'], d['metric'])}", "", "", interval(d)]
            for d in summary.get("general_deltas", [])
            if d["a"] == "demo" and d["b"] == "demo-kto" and d["metric"] in ("rouge_l", "false_refusal")
        ]
        header = ["metric (held-out questions, RAG on)", "demo", "demo+KTO", "demo+KTO − demo (95% CI)"]
        tables.append(markdown_table(header, rows))
    names = {
        "demo": "demo adapter (RAFT; ensure-demo)",
        "thumbs": "thumbs log: serve + answer + rate the validation questions",
        "export": "ragtune data export",
        "kto": "ragtune train kto --from demo",
        "reward": "ragtune train reward (demo preference pairs, 1 epoch)",
        "eval": "ragtune eval demo, demo-kto (held-out, RAG on)",
    }
    measured = [name for name in names if name in stages]
    costs = [[names[name], f"{stages[name]['wall_s'] / 60:.1f} min", stages[name]["peak_rss_gib"]] for name in measured]
    header = ["stage", "wall time", "peak RSS (GiB)"]
    if any(stages[name].get("machine", "unknown") != this_machine() for name in measured):
        header.append("measured on")  # a stage copied from another run (--demo-home) or resumed elsewhere
        for row, name in zip(costs, measured):
            row.append(stages[name].get("machine", "unknown"))
    tables.append(markdown_table(header, costs))
    text = "\n\n".join(tables)
    print(text)
    if args.write_docs:
        note = (
            "`benchmarks/kto_demo.py`: KTO from the demo adapter on a thumbs log of its own answers to the "
            "validation questions (rated by their key facts), against the demo adapter on make eval's held-out "
            "questions with the server's decoding. * : the 95% interval excludes zero. "
            "Why and what it means: [decisions/kto.md](decisions/kto.md)."
        )
        write_table("preference_training", text, note=note)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stage", choices=[*STAGES, "all"], default="all")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "kto-demo")
    parser.add_argument("--demo-home", type=Path, help="a ragtune home with the demo adapter and kb to copy")
    parser.add_argument("--kto-steps", type=int, help="default: one epoch of the thumbs")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--ask", action="store_true", help=argparse.SUPPRESS)  # the thumbs stage's process
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.ask:
        ask_and_rate(out)
        return
    runs = {
        "demo": stage_demo,
        "thumbs": stage_thumbs,
        "export": stage_export,
        "kto": stage_kto,
        "reward": stage_reward,
        "eval": stage_eval,
        "report": stage_report,
    }
    for stage in STAGES if args.stage == "all" else (args.stage,):
        if args.stage == "all" and stage != "report" and stage in load_stages(out):
            continue
        runs[stage](out, args)


if __name__ == "__main__":
    main()
