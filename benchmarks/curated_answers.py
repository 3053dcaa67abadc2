"""Curated-answer matching on its validation set: the demo FAQ files imported as curated answers, then each
question of examples/eval/curated_validation.jsonl (paraphrases that must match their FAQ question, near
misses and unrelated questions that must not) matched as serving matches it. Prints, per language, what the
configured thresholds serve, and for each threshold candidate the paraphrases matched and the wrong matches,
so a threshold can be chosen where no near miss matches (docs/decisions/curated-answers.md).

Then the held-out questions of `make eval` (examples/eval/questions.jsonl, never used to calibrate): how many
answerable and unanswerable ones a curated answer would take, and which.

Usage: python benchmarks/curated_answers.py [--validation FILE] [--held-out FILE] [--penalty 0.4]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

# This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from core.language import detect_language
from core.settings import AnswersSettings, Settings
from knowledge.answer_match import AnswerMatcher
from knowledge.answers import AnswerStore, read_faq_file
from retrieval.embedding import Embedder

REPO = Path(__file__).resolve().parent.parent
FAQ_FILES = [REPO / "examples/knowledge/faq.jsonl", REPO / "examples/knowledge/faq_zh.csv"]


def best_matches(matcher: AnswerMatcher, rows: list[dict]) -> list[tuple[dict, str | None, float]]:
    """(row, the best curated question, its score) per validation row."""
    out = []
    for row in rows:
        found = matcher.candidates(row["query"], row["language"])
        out.append((row, found[0].answer.question if found else None, found[0].score if found else -1.0))
    return out


def outcome(results, language: str, threshold: float) -> dict:
    mine = [(row, q, s) for row, q, s in results if row["language"] == language]
    served = [(row, q) for row, q, s in mine if s >= threshold]
    return {
        "paraphrases": sum(1 for row, _, _ in mine if row["match"]),
        "matched": sum(1 for row, q in served if row["match"] and q == row["match"]),
        "wrong": sum(1 for row, q in served if row["match"] and q != row["match"]),
        "near_misses": sum(1 for row, _, _ in mine if row["kind"] == "near_miss"),
        "near_miss_matched": sum(1 for row, _ in served if row["kind"] == "near_miss"),
        "unrelated_matched": sum(1 for row, _ in served if row["kind"] == "unrelated"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validation", type=Path, default=REPO / "examples/eval/curated_validation.jsonl")
    parser.add_argument("--held-out", type=Path, default=REPO / "examples/eval/questions.jsonl")
    parser.add_argument("--penalty", type=float, default=AnswersSettings().unmatched_penalty)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.validation.read_text(encoding="utf-8").splitlines() if line]
    settings = AnswersSettings(unmatched_penalty=args.penalty)
    embedder = Embedder(Settings().retrieval.embedding_model)
    with tempfile.TemporaryDirectory() as tmp:
        store = AnswerStore(Path(tmp))
        store.add([answer for path in FAQ_FILES for answer in read_faq_file(path)])
        matcher = AnswerMatcher(store, lambda: embedder, settings)
        results = best_matches(matcher, rows)
        held_out = [
            json.loads(line) for line in args.held_out.read_text(encoding="utf-8").splitlines() if line
        ]
        taken = [(q, matcher.match([q["question"]], detect_language(q["question"]))) for q in held_out]
    print(f"unmatched_penalty {args.penalty}")
    print(
        "| language | threshold | paraphrases matched | wrong answer | near misses matched | unrelated matched |"
    )
    print("|---|---|---|---|---|---|")
    for language, threshold in settings.thresholds.items():
        o = outcome(results, language, threshold)
        print(
            f"| {language} | {threshold} | {o['matched']}/{o['paraphrases']} | {o['wrong']} | "
            f"{o['near_miss_matched']}/{o['near_misses']} | {o['unrelated_matched']} |"
        )
    for language in settings.thresholds:
        print(f"\n{language}: threshold sweep (score of the best match per question)")
        for threshold in (0.70, 0.75, 0.80, 0.83, 0.85, 0.87, 0.89, 0.91, 0.93):
            o = outcome(results, language, threshold)
            print(
                f"  {threshold:.2f}: paraphrases {o['matched']}/{o['paraphrases']}, wrong {o['wrong']}, "
                f"near misses {o['near_miss_matched']}/{o['near_misses']}, unrelated {o['unrelated_matched']}"
            )
        misses = [
            (row, q, s)
            for row, q, s in results
            if row["language"] == language and row["kind"] != "paraphrase"
        ]
        row, q, s = max(misses, key=lambda r: r[2])
        print(f"  highest near miss / unrelated: {s:.3f} {row['query']!r} -> {q!r}")
    for answerable in (True, False):
        group = [(q, m) for q, m in taken if q.get("answerable", True) is answerable]
        matched = [(q, m) for q, m in group if m is not None]
        kind = "answerable" if answerable else "unanswerable"
        print(f"\nheld-out {kind}: {len(matched)}/{len(group)} matched a curated answer")
        for q, m in matched:
            print(f"  {m.score:.3f} {q['question']!r} -> {m.answer.question!r}")


if __name__ == "__main__":
    main()
