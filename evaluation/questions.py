"""Held-out question sets: one JSON object a line,
{"question", "reference_answer", "gold_sources"?, "answerable"?, "key_facts"?, "language"?, "id"?}.
key_facts: the numbers, durations, codes and names a correct answer must state (evaluation/facts.py);
language: "en" or "zh", detected from the question when not given."""

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import RagtuneError
from core.language import LANGUAGES, detect_language
from evaluation.conversations import load_conversations
from evaluation.facts import check_fact
from evaluation.jsonl import read_records


@dataclass
class Question:
    id: str
    question: str
    reference_answer: str = ""
    gold_sources: list[str] = field(default_factory=list)
    answerable: bool = True
    key_facts: list[str] = field(default_factory=list)
    language: str = "en"
    # The conversation sent instead of the question alone (a conversation set's turns, ending with the
    # follow-up in `question`); None: the question is the only message.
    messages: list[dict] | None = None
    kind: str = ""  # a conversation's kind of follow-up (pronoun, ellipsis, …)

    def chat_messages(self) -> list[dict]:
        return self.messages or [{"role": "user", "content": self.question}]


def parse_key_facts(value: object, where: str) -> list[str]:
    """A list of non-empty strings, each one that can be matched; a bad one raises naming where."""
    if not isinstance(value, list) or not all(isinstance(f, str) and f.strip() for f in value):
        raise RagtuneError(f"{where}: 'key_facts' must be a list of non-empty strings")
    for fact in value:
        problem = check_fact(fact)
        if problem:
            raise RagtuneError(f"{where}: {problem}")
    return [f.strip() for f in value]


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
    language = obj.get("language") or detect_language(question)
    if language not in LANGUAGES:
        raise RagtuneError(f"{where}: 'language' must be one of {', '.join(LANGUAGES)}")
    facts = parse_key_facts(obj.get("key_facts") or [], where)
    return Question(
        id=str(obj.get("id", f"q{number}")),
        question=question.strip(),
        reference_answer=reference.strip(),
        gold_sources=gold,
        answerable=answerable,
        key_facts=facts,
        language=language,
    )


def load_questions(path: Path) -> list[Question]:
    """Read a question file; a bad line raises RagtuneError naming file and line."""
    return read_records(path, "question", _parse)


def load_conversation_questions(path: Path) -> list[Question]:
    """A conversation set (evaluation/conversations.py) as questions scored on their final turn: the whole
    conversation is sent, the follow-up is the question, and the rest is scored as any question is."""
    return [
        Question(
            id=c.id,
            question=c.follow_up,
            reference_answer=c.reference_answer,
            gold_sources=list(c.gold_sources),
            answerable=c.answerable,
            key_facts=parse_key_facts(list(c.key_facts), f"{path}: conversation '{c.id}'"),
            language=c.language,
            messages=[dict(m) for m in c.messages],
            kind=c.kind,
        )
        for c in load_conversations(path)
    ]
