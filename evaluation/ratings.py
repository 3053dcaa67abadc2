"""Human rating: a CSV with one row per answer to fill in (rating 1-5), and folding it back into the run."""

import csv
from pathlib import Path

from evaluation.store import load_run, save_run
from retrieval.errors import RagtuneError

COLUMNS = ["question_id", "combination", "question", "reference_answer", "answer", "citations", "rating", "comment"]


def write_ratings_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            if row.get("set", "heldout") != "heldout":
                continue
            cited = "; ".join(c.get("title") or c.get("source", "") for c in row["citations"])
            writer.writerow({**{k: row.get(k, "") for k in COLUMNS[:5]}, "citations": cited, "rating": "",
                             "comment": ""})


def read_ratings(path: Path) -> dict[tuple[str, str], float]:
    """(combination, question_id) -> rating; empty ratings are skipped, bad ones name file and line."""
    if not path.is_file():
        raise RagtuneError(f"{path}: ratings file not found")
    ratings = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"question_id", "combination", "rating"} - set(reader.fieldnames or [])
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
            ratings[record["combination"], record["question_id"]] = value
    return ratings


def import_ratings(csv_path: Path, out: Path) -> int:
    """Stores the ratings in the run's rows as human_rating; returns how many were folded in. Unknown
    (combination, question) pairs raise before anything is written."""
    run, rows = load_run(out)
    ratings = read_ratings(csv_path)
    index = {(r["combination"], r["question_id"]): r for r in rows if r.get("set", "heldout") == "heldout"}
    unknown = [key for key in ratings if key not in index]
    if unknown:
        combination, question = unknown[0]
        raise RagtuneError(f"{csv_path}: no answer of '{combination}' to question '{question}' in {out}")
    for key, value in ratings.items():
        index[key]["human_rating"] = value
    save_run(out, run, rows)
    return len(ratings)
