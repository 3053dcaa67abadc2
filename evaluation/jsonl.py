"""Reading the evaluation's JSON-lines files (questions, conversations): one object a line, every error
naming the file and line."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from core.errors import RagtuneError

T = TypeVar("T")


def read_records(path: Path, noun: str, parse: Callable[[object, str, int], T]) -> list[T]:
    """`parse(obj, "file:line", line number)` for each non-blank line; a bad line, an empty file or an id
    used twice raises RagtuneError naming where (`noun`: what the lines are, for the messages)."""
    path = Path(path)
    if not path.is_file():
        raise RagtuneError(f"{path}: {noun} file not found")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise RagtuneError(f"{where}: not valid JSON ({err.msg})") from None
        records.append(parse(obj, where, number))
    if not records:
        raise RagtuneError(f"{path}: no {noun}s in the file")
    ids = [record.id for record in records]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise RagtuneError(f"{path}: {noun} id '{duplicate}' appears more than once")
    return records
