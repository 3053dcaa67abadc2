"""Training data in the formats teams have (JSON, JSONL, CSV, plain Q/A text) -> one canonical form.

Every error names the file and line of the record at fault."""

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import RagtuneError
from core.prompt import Source

ROLES = {"system", "user", "assistant"}
_ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant"}
# Speaker labels in transcripts ("用户：…", "Customer: …") and in Q/A text blocks ("问：…", "Q: …").
_SPEAKERS = {
    "用户": "user",
    "客户": "user",
    "顾客": "user",
    "问": "user",
    "user": "user",
    "customer": "user",
    "q": "user",
    "客服": "assistant",
    "助手": "assistant",
    "答": "assistant",
    "assistant": "assistant",
    "agent": "assistant",
    "a": "assistant",
}
_SPEAKER_LINE = re.compile(
    r"^\s*(" + "|".join(map(re.escape, _SPEAKERS)) + r")\s*[:：]\s*(.*)$", re.IGNORECASE
)


@dataclass
class Conversation:
    """One training sample: chat messages ending in the assistant answer to learn, with its labels."""

    messages: list[dict]
    intent: str | None = None
    style: str | None = None
    gold_sources: list[str] = field(default_factory=list)
    id: str = ""
    origin: str = ""  # file:line
    augmented: str | None = None  # how it was made, when augmentation made it

    def text(self) -> str:
        return "\n".join(m["content"] for m in self.messages)

    def last_user(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


@dataclass
class PreferencePair:
    prompt: list[dict]  # conversation up to the answer
    chosen: str
    rejected: str
    origin: str = ""
    # How the server built the prompt, where known (pairs made from rated answers): as KtoExample's.
    sources: list[Source] | None = None
    system_prompt: str | None = None
    style: str | None = None


@dataclass
class KtoExample:
    """One rated answer (KTO, TRL's unpaired format): the conversation up to it, the answer, whether it was
    good; and as the server built its prompt, where the record says (the feedback export does): the sources
    shown (None: RAG off), the system prompt and the style tag."""

    prompt: list[dict]
    completion: str
    label: bool
    sources: list[Source] | None = None
    system_prompt: str | None = None
    style: str | None = None
    origin: str = ""


def load_conversations(path: Path) -> list[Conversation]:
    """Read every SFT sample in a file; preference records contribute their chosen answer."""
    samples: list[Conversation] = []
    for where, record in read_records(path):
        samples.extend(parse_record(record, where))
    if not samples:
        raise RagtuneError(f"{path}: no training samples found")
    return samples


def load_preferences(path: Path) -> list[PreferencePair]:
    """Every preference pair of a file: `prompt` (text) or `messages`, `chosen`, `rejected`, and optionally
    what the server built the prompt from, as for a rated answer (load_kto)."""
    pairs = []
    for where, record in read_records(path):
        if not isinstance(record, dict) or "chosen" not in record or "rejected" not in record:
            raise RagtuneError(
                f"{where}: a preference pair needs 'prompt' or 'messages', 'chosen' and 'rejected'"
            )
        prompt = _prompt_of(record, where)
        pairs.append(
            PreferencePair(
                prompt=prompt,
                chosen=_text(record, "chosen", where),
                rejected=_text(record, "rejected", where),
                origin=where,
                **_served_with(record, where),
            )
        )
    if not pairs:
        raise RagtuneError(f"{path}: no preference pairs found")
    return pairs


def load_kto(path: Path) -> list[KtoExample]:
    """Every rated answer of a file: `prompt` (text) or `messages`, `completion`, `label` (true or false), and
    optionally `sources` ([{text, title, source}]), `system_prompt` and `style`."""
    examples = []
    for where, record in read_records(path):
        if not isinstance(record, dict) or "completion" not in record or "label" not in record:
            raise RagtuneError(
                f"{where}: a rated answer needs 'prompt' or 'messages', 'completion' and 'label' (true or false)"
            )
        if not isinstance(record["label"], bool):
            raise RagtuneError(f"{where}: 'label' must be true or false, not {record['label']!r}")
        examples.append(
            KtoExample(
                prompt=_prompt_of(record, where),
                completion=_text(record, "completion", where),
                label=record["label"],
                origin=where,
                **_served_with(record, where),
            )
        )
    if not examples:
        raise RagtuneError(f"{path}: no rated answers found")
    return examples


def pairs_from_ratings(examples: list["KtoExample"]) -> tuple[list[PreferencePair], int]:
    """Each answer rated good over each answer rated bad to the same prompt (conversation, sources, system
    prompt and style); and how many rated answers had no answer of the other rating to pair with."""
    groups: dict[str, list[KtoExample]] = {}
    for example in examples:
        sources = [vars(s) for s in example.sources] if example.sources is not None else None
        key = json.dumps([example.prompt, sources, example.system_prompt, example.style], ensure_ascii=False)
        groups.setdefault(key, []).append(example)
    pairs, unpaired = [], 0
    for group in groups.values():
        good, bad = [e for e in group if e.label], [e for e in group if not e.label]
        if not good or not bad:
            unpaired += len(group)
            continue
        for chosen in good:
            for rejected in bad:
                pairs.append(
                    PreferencePair(
                        prompt=chosen.prompt,
                        chosen=chosen.completion,
                        rejected=rejected.completion,
                        origin=f"{chosen.origin} over {rejected.origin}",
                        sources=chosen.sources,
                        system_prompt=chosen.system_prompt,
                        style=chosen.style,
                    )
                )
    return pairs, unpaired


def read_records(path: Path) -> list[tuple[str, object]]:
    """(file:line, record) for each record of a .jsonl, .json, .csv or Q/A text file."""
    path = Path(path)
    if not path.is_file():
        raise RagtuneError(f"{path}: no such file")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise RagtuneError(f"{path}: not UTF-8 text ({err})") from err
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl_records(path, content)
    if suffix == ".json":
        return _json_records(path, content)
    if suffix == ".csv":
        return _csv_records(path, content)
    if suffix in (".txt", ".md"):
        return [(f"{path}:{line}", {"text": block}) for line, block in _text_blocks(content)]
    raise RagtuneError(f"{path}: unsupported training data type '{suffix}' (use .jsonl, .json, .csv or .txt)")


def _jsonl_records(path: Path, content: str) -> list[tuple[str, object]]:
    records = []
    for number, line in enumerate(content.splitlines(), start=1):
        if line.strip():
            try:
                records.append((f"{path}:{number}", json.loads(line)))
            except json.JSONDecodeError as err:
                raise RagtuneError(
                    f"{path}:{number}: not valid JSON: {err.msg} (column {err.colno})"
                ) from err
    return records


def _json_records(path: Path, content: str) -> list[tuple[str, object]]:
    """A top-level array gives one record per element, each with the line it starts on."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError as err:
        raise RagtuneError(f"{path}:{err.lineno}: not valid JSON: {err.msg} (column {err.colno})") from err
    if not isinstance(data, list):
        return [(f"{path}:1", data)]
    decoder, records, pos = json.JSONDecoder(), [], content.index("[") + 1
    while True:
        while pos < len(content) and content[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(content) or content[pos] == "]":
            return records
        record, end = decoder.raw_decode(content, pos)
        records.append((f"{path}:{content.count(chr(10), 0, pos) + 1}", record))
        pos = end


def _csv_records(path: Path, content: str) -> list[tuple[str, object]]:
    reader = csv.DictReader(io.StringIO(content, newline=""))
    records = []
    for row in reader:
        record = {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
        for key in ("messages", "conversations", "gold_sources"):
            if isinstance(record.get(key), str) and record[key].lstrip().startswith("["):
                try:
                    record[key] = json.loads(record[key])
                except json.JSONDecodeError as err:
                    raise RagtuneError(
                        f"{path}:{reader.line_num}: column '{key}' is not valid JSON: {err.msg}"
                    ) from err
        records.append((f"{path}:{reader.line_num}", record))
    return records


def _text_blocks(content: str) -> list[tuple[int, str]]:
    """Blank-line separated blocks with the line each starts on."""
    blocks, start, lines = [], 0, []
    for number, line in enumerate(content.splitlines() + [""], start=1):
        if line.strip():
            start = start or number
            lines.append(line)
        elif lines:
            blocks.append((start, "\n".join(lines)))
            start, lines = 0, []
    return blocks


def parse_record(record: object, where: str) -> list[Conversation]:
    if not isinstance(record, dict):
        raise RagtuneError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if isinstance(record.get("conversations"), list):
        if not all(isinstance(item, dict) for item in record["conversations"]):
            raise RagtuneError(f"{where}: 'conversations' must be a list of objects with 'messages'")
        return [_with_labels(item, parse_messages(item, where), where) for item in record["conversations"]]
    if "chosen" in record:
        messages = [
            *_prompt_of(record, where),
            {"role": "assistant", "content": _text(record, "chosen", where)},
        ]
    elif "messages" in record:
        messages = parse_messages(record, where)
    elif "instruction" in record:
        user = _text(record, "instruction", where)
        extra = record.get("input") or ""
        messages = [
            {"role": "user", "content": f"{user}\n\n{extra}" if extra else user},
            {"role": "assistant", "content": _text(record, "output", where)},
        ]
    elif "context" in record:
        messages = [
            *parse_transcript(_text(record, "context", where), where, final_speaker="user"),
            {"role": "assistant", "content": _text(record, "response", where)},
        ]
    elif "prompt" in record:
        answer_key = "completion" if "completion" in record else "response"
        messages = [
            {"role": "user", "content": _text(record, "prompt", where)},
            {"role": "assistant", "content": _text(record, answer_key, where)},
        ]
    elif "question" in record:  # an evaluation question with its reference answer, or a FAQ pair
        answer_key = "answer" if "answer" in record else "reference_answer"
        messages = [
            {"role": "user", "content": _text(record, "question", where)},
            {"role": "assistant", "content": _text(record, answer_key, where)},
        ]
    elif "text" in record:
        messages = parse_transcript(_text(record, "text", where), where, final_speaker="assistant")
    else:
        raise RagtuneError(
            f"{where}: unrecognised record with keys {sorted(record)}; expected messages, conversations, "
            "prompt/response, instruction/output, context/response, question/reference_answer or answer, "
            "text (Q:/A:) or prompt/chosen/rejected"
        )
    return [_with_labels(record, messages, where)]


def parse_messages(record: dict, where: str) -> list[dict]:
    raw = record.get("messages")
    if not isinstance(raw, list) or not raw:
        raise RagtuneError(f"{where}: 'messages' must be a non-empty list of {{role, content}}")
    messages = []
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise RagtuneError(f"{where}: message {number} is not an object")
        role = item.get("role", item.get("from"))
        role = _ROLE_ALIASES.get(role, role)
        content = item.get("content", item.get("value"))
        if role not in ROLES:
            raise RagtuneError(
                f"{where}: message {number} has role {role!r}; expected system, user or assistant"
            )
        if not isinstance(content, str):
            raise RagtuneError(f"{where}: message {number} needs a text 'content'")
        messages.append({"role": role, "content": content})
    if messages[-1]["role"] != "assistant":
        raise RagtuneError(f"{where}: the last message must be the assistant's answer to learn")
    return messages


def parse_transcript(text: str, where: str, final_speaker: str) -> list[dict]:
    """'用户：…/客服：…', '问：…/答：…' or 'Q: …/A: …' lines -> messages; unlabelled text is one user turn."""
    messages: list[dict] = []
    for line in text.splitlines():
        match = _SPEAKER_LINE.match(line)
        if match:
            messages.append({"role": _SPEAKERS[match.group(1).lower()], "content": match.group(2).strip()})
        elif messages:
            messages[-1]["content"] += "\n" + line.strip()
        elif line.strip():
            messages.append({"role": "user", "content": line.strip()})
    if not messages or messages[-1]["role"] != final_speaker:
        expected = "an answer (A:/答：)" if final_speaker == "assistant" else "a user turn"
        raise RagtuneError(f"{where}: the text must end with {expected}")
    return messages


def _prompt_of(record: dict, where: str) -> list[dict]:
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:
            raise RagtuneError(f"{where}: 'messages' must be a non-empty list")
        return parse_messages({"messages": [*messages, {"role": "assistant", "content": ""}]}, where)[:-1]
    return [{"role": "user", "content": _text(record, "prompt", where)}]


def _served_with(record: dict, where: str) -> dict:
    """What the server built a logged answer's prompt from, where the record says: the sources shown (None:
    RAG off), the system prompt and the style tag."""
    return {
        "sources": _sources_of(record, where),
        "system_prompt": _optional_text(record, "system_prompt", where),
        "style": _optional_text(record, "style", where),
    }


def _sources_of(record: dict, where: str) -> list[Source] | None:
    sources = record.get("sources")
    if sources is None:
        return None
    if not isinstance(sources, list) or not all(
        isinstance(s, dict) and isinstance(s.get("text"), str) for s in sources
    ):
        raise RagtuneError(f"{where}: 'sources' must be a list of {{text, title, source}} objects")
    return [
        Source(text=s["text"], title=str(s.get("title") or ""), source=str(s.get("source") or ""))
        for s in sources
    ]


def _optional_text(record: dict, key: str, where: str) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise RagtuneError(f"{where}: '{key}' must be text")
    return value or None


def _text(record: dict, key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RagtuneError(f"{where}: '{key}' must be non-empty text")
    return value


def _with_labels(record: dict, messages: list[dict], where: str) -> Conversation:
    gold = record.get("gold_sources", record.get("sources", []))
    if isinstance(gold, str):
        gold = [gold]
    if not isinstance(gold, list) or not all(isinstance(g, str) for g in gold):
        raise RagtuneError(f"{where}: 'gold_sources' must be a list of source ids")
    labels = {key: record.get(key) for key in ("intent", "style")}
    for key, value in labels.items():
        if value is not None and not isinstance(value, str):
            raise RagtuneError(f"{where}: '{key}' must be text")
    return Conversation(
        messages=messages,
        intent=labels["intent"] or None,
        style=labels["style"] or None,
        gold_sources=gold,
        id=str(record.get("id", "")),
        origin=where,
    )
