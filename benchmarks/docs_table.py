"""A benchmark's current table in docs/benchmarks.md, written by the benchmark itself (`--write-docs`).

    write_table("rails", markdown_table, note="A 10,000-word list plus personal data.")

replaces what stands between `<!-- bench:rails -->` and `<!-- /bench:rails -->` (a section is added at the end
of the page when the markers are missing) with a line saying when, on which commit and on which CPU it was
measured, the note, and the table. Everything else on the page is left as it is."""

import datetime
import os
import re
import subprocess
from pathlib import Path

from core.hardware import describe_cpu

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"


def commit() -> str:
    """The short commit id, marked when the working tree has changes the figures may depend on."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {head}" + (" with uncommitted changes" if dirty else "")


def this_machine() -> str:
    return f"{describe_cpu()}, {os.cpu_count()} cores"


def stamp(machine: str | None = None, today: datetime.date | None = None) -> str:
    today = today or datetime.datetime.now(datetime.UTC).date()
    machine = machine or this_machine()
    return f"{today.isoformat()}, {commit()}, {machine}."


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_table(name: str, table: str, note: str = "", machine: str | None = None, path: Path = DOCS) -> None:
    """Replace benchmark `name`'s section of the page with `table` under a stamp line (and `note`)."""
    if not re.fullmatch(r"[\w-]+", name):
        raise ValueError(f"benchmark name {name!r}: use letters, digits, '_' or '-'")
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    body = "\n".join(part for part in (stamp(machine), note.strip()) if part) + "\n\n" + table.strip()
    section = f"{start}\n{body}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    found = re.search(re.escape(start) + r".*?" + re.escape(end), text, flags=re.DOTALL)
    if found:
        text = text[: found.start()] + section + text[found.end() :]
    else:
        text = text.rstrip("\n") + f"\n\n## `{name}`\n\n{section}\n"
    path.write_text(text, encoding="utf-8")
    print(f"{path}: section {name!r} written")
