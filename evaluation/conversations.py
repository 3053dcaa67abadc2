"""Conversation sets: one JSON object a line, a conversation whose last user turn is the follow-up scored.

    {"id": "…", "language": "en"|"zh", "kind": "pronoun"|"ellipsis"|"topic_switch"|"after_fallback"|…,
     "messages": [{"role": "user", "content": …}, {"role": "assistant", "content": …}, …, {"role": "user", …}],
     "standalone_question": "the last user turn written out in full",
     "reference_answer": "…", "key_facts": ["30 days"], "gold_sources": ["returns.md"], "answerable": true}

Earlier assistant turns are fixed text in the file, so every run scores the same conversation."""

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import RagtuneError
from core.language import LANGUAGES
from evaluation.jsonl import read_records

ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Conversation:
    id: str
    language: str
    kind: str
    messages: list[dict]  # ends with the user's follow-up
    standalone_question: str
    reference_answer: str = ""
    key_facts: list[str] = field(default_factory=list)
    gold_sources: list[str] = field(default_factory=list)
    answerable: bool = True

    @property
    def follow_up(self) -> str:
        return self.messages[-1]["content"]


def _strings(obj: dict, key: str, where: str) -> list[str]:
    value = obj.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RagtuneError(f"{where}: '{key}' must be a list of non-empty strings")
    return value


def _text(obj: dict, key: str, where: str, required: bool = True) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise RagtuneError(f"{where}: '{key}' must be a {'non-empty ' * required}string")
    return value.strip()


def _messages(obj: dict, where: str) -> list[dict]:
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RagtuneError(f"{where}: 'messages' must be a non-empty list")
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise RagtuneError(f"{where}: messages[{n}] needs a role of {' or '.join(ROLES)}")
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            raise RagtuneError(f"{where}: messages[{n}] needs non-empty text in 'content'")
    if messages[-1]["role"] != "user":
        raise RagtuneError(f"{where}: the last message must be the user's follow-up")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _parse(obj: object, where: str, number: int) -> Conversation:
    if not isinstance(obj, dict):
        raise RagtuneError(f"{where}: expected a JSON object")
    language = obj.get("language")
    if language not in LANGUAGES:
        raise RagtuneError(f"{where}: 'language' must be one of {', '.join(LANGUAGES)}")
    answerable = obj.get("answerable", True)
    if not isinstance(answerable, bool):
        raise RagtuneError(f"{where}: 'answerable' must be true or false")
    return Conversation(
        id=str(obj.get("id", f"c{number}")),
        language=language,
        kind=_text(obj, "kind", where),
        messages=_messages(obj, where),
        standalone_question=_text(obj, "standalone_question", where),
        reference_answer=_text(obj, "reference_answer", where, required=False),
        key_facts=_strings(obj, "key_facts", where),
        gold_sources=_strings(obj, "gold_sources", where),
        answerable=answerable,
    )


def load_conversations(path: Path) -> list[Conversation]:
    """Read a conversation file; a bad line raises RagtuneError naming the file and line."""
    return read_records(path, "conversation", _parse)
