"""Held-out question sets: one JSON object a line, {"question", "reference_answer", "gold_sources"?, "answerable"?}."""

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import RagtuneError


@dataclass
class Question:
    id: str
    question: str
    reference_answer: str = ""
    gold_sources: list[str] = field(default_factory=list)
    answerable: bool = True


def _parse(obj: object, where: str, number: int) -> Question:
    if not isinstance(obj, dict):
        raise RagtuneError(f"{where}: expected a JSON object")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise RagtuneError(f"{where}: 'question' must be a non-empty string")
    reference = obj.get("reference_answer", "")
    gold = obj.get("gold_sources") or []
    answerable = obj.get("answerable", True)
    if not isinstance(reference, str):
        raise RagtuneError(f"{where}: 'reference_answer' must be a string")
    if not isinstance(gold, list) or not all(isinstance(g, str) for g in gold):
        raise RagtuneError(f"{where}: 'gold_sources' must be a list of file names")
    if not isinstance(answerable, bool):
        raise RagtuneError(f"{where}: 'answerable' must be true or false")
    return Question(str(obj.get("id", f"q{number}")), question.strip(), reference.strip(), gold, answerable)


def load_questions(path: Path) -> list[Question]:
    """Read a question file; a bad line raises RagtuneError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise RagtuneError(f"{path}: question file not found")
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise RagtuneError(f"{where}: not valid JSON ({err.msg})") from None
        questions.append(_parse(obj, where, number))
    if not questions:
        raise RagtuneError(f"{path}: no questions in the file")
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise RagtuneError(f"{path}: question ids are not unique")
    return questions
