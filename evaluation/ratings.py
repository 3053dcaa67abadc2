"""Human rating, blind: ratings.csv lists every held-out answer in shuffled order under an opaque item id
(which combination wrote it is kept aside in ratings_key.json); import folds the 1-5 ratings back in."""

import csv
import json
import random
from pathlib import Path

from core.errors import RagtuneError
from evaluation.store import load_run, save_run

COLUMNS = ["item", "question", "reference_answer", "answer", "citations", "rating", "comment"]
KEY_FILE = "ratings_key.json"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(text: str | None) -> str:
    """Text for a spreadsheet cell: one that starts like a formula (=, +, -, @, a tab or a carriage return)
    gets a leading apostrophe, so that a model's answer "=HYPERLINK(...)" is shown, not run (OWASP's advice
    against CSV injection)."""
    text = text or ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_ratings_csv(rows: list[dict], out: Path, seed: int = 0) -> None:
    answers = [r for r in rows if r.get("set", "heldout") == "heldout"]
    random.Random(seed).shuffle(answers)
    key = {}
    with (out / "ratings.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for number, row in enumerate(answers, start=1):
            item = f"a{number:04d}"
            key[item] = [row["combination"], row["question_id"]]
            cited = "; ".join(c.get("title") or c.get("source", "") for c in row["citations"])
            writer.writerow({"item": item, "question": cell(row["question"]),
                             "reference_answer": cell(row["reference_answer"]), "answer": cell(row["answer"]),
                             "citations": cell(cited), "rating": "", "comment": ""})
    (out / KEY_FILE).write_text(json.dumps(key, indent=1), encoding="utf-8")


def read_ratings(path: Path) -> dict[str, float]:
    """item -> rating; empty ratings are skipped, bad ones name file and line."""
    if not path.is_file():
        raise RagtuneError(f"{path}: ratings file not found")
    ratings = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"item", "rating"} - set(reader.fieldnames or [])
        if missing:
            raise RagtuneError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, record in enumerate(reader, start=2):
            text = (record["rating"] or "").strip()
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                value = 0.0
            if not 1 <= value <= 5:
                raise RagtuneError(f"{path}:{line}: rating must be a number from 1 to 5, got {text!r}")
            ratings[record["item"]] = value
    return ratings


def import_ratings(csv_path: Path, out: Path) -> int:
    """Stores the ratings in the run's rows as human_rating; returns how many were folded in. An item
    the report does not know raises before anything is written."""
    run, rows = load_run(out)
    if not (out / KEY_FILE).is_file():
        raise RagtuneError(f"{out}: no {KEY_FILE}; ratings can only be imported into the report that wrote the CSV")
    key = json.loads((out / KEY_FILE).read_text(encoding="utf-8"))
    ratings = read_ratings(csv_path)
    unknown = [item for item in ratings if item not in key]
    if unknown:
        raise RagtuneError(f"{csv_path}: item '{unknown[0]}' is not an answer in {out}")
    index = {(r["combination"], r["question_id"]): r for r in rows if r.get("set", "heldout") == "heldout"}
    for item, value in ratings.items():
        index[tuple(key[item])]["human_rating"] = value
    save_run(out, run, rows)
    return len(ratings)
