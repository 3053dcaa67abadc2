"""An evaluation run on disk: run.json (what was compared, how) and results.jsonl (one row per answer).
Reports are rendered from these two files, so they can be re-rendered after human ratings come in."""

import json
from pathlib import Path

from core.errors import RagtuneError

RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"


def save_run(out: Path, run: dict, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / RUN_FILE).write_text(json.dumps(run, indent=2, ensure_ascii=False), encoding="utf-8")
    lines = (json.dumps(row, ensure_ascii=False) for row in rows)
    tmp = out / (RESULTS_FILE + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out / RESULTS_FILE)


def load_run(out: Path) -> tuple[dict, list[dict]]:
    if not (out / RUN_FILE).is_file() or not (out / RESULTS_FILE).is_file():
        raise RagtuneError(f"{out}: not an evaluation report folder (no {RUN_FILE} / {RESULTS_FILE})")
    run = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (out / RESULTS_FILE).read_text(encoding="utf-8").splitlines() if line]
    return run, rows


def archive_previous(out: Path) -> Path | None:
    """A folder that already holds a run (maybe with human ratings) is moved aside, never overwritten;
    returns where it went."""
    if not (out / RUN_FILE).is_file():
        return None
    created = json.loads((out / RUN_FILE).read_text(encoding="utf-8")).get("created", "")
    stamp = "".join(ch for ch in created[:19] if ch.isdigit()) or "previous"
    target = out.with_name(f"{out.name}-{stamp}")
    counter = 1
    while target.exists():
        target = out.with_name(f"{out.name}-{stamp}-{counter}")
        counter += 1
    out.rename(target)
    return target
