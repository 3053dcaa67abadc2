"""Feedback -> training files that `ragtune train sft` and `ragtune train dpo` read as they are.

sft.jsonl: {"messages", "gold_sources", "id"}: corrected answers and up-rated answers, with the sources the
user was shown as gold sources (for `--raft`), cleaned and deduplicated by training.cleaning.clean.
dpo.jsonl: {"messages", "chosen", "rejected", "sources", "system_prompt", "style", "id"}: a correction over the
logged answer, and the preferred answer over the other one on the compare page, with what the server built the
(chosen) answer's prompt from, as kto.jsonl has it.
kto.jsonl: {"messages", "completion", "label", "sources", "system_prompt", "style", "id"}: each thumbs up
(label true) or down (false) on a generated answer, as `ragtune train kto` reads it, with what the server
built the answer's prompt from (the sources as the prompt got them, None with RAG off), so training rebuilds
that prompt exactly. Personal data stays masked."""

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from core.errors import RagtuneError
from core.prompt import cited_numbers
from feedback.privacy import mask_value
from feedback.records import RATINGS, ChatRecord, Feedback
from feedback.store import FeedbackStore
from training.cleaning import CleaningOptions, CleaningReport, clean, normalise_text
from training.data import Conversation

SFT_FILE, DPO_FILE, KTO_FILE, SUMMARY_FILE = "sft.jsonl", "dpo.jsonl", "kto.jsonl", "export.json"
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass
class ExportFilter:
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive
    rating: str | None = None
    model: str | None = None
    collection: str | None = None

    def __post_init__(self) -> None:
        if self.rating is not None and self.rating not in RATINGS:
            raise RagtuneError(f"rating: {self.rating!r} is not one of {', '.join(RATINGS)}")


@dataclass
class ExportResult:
    folder: Path
    files: dict[str, Path]  # file name -> path; a set with no samples writes no file
    sft: int = 0
    dpo: int = 0
    kto: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> feedback rows that gave nothing
    cleaning: CleaningReport | None = None

    def summary(self) -> dict:
        removed = {k: n for k, n in self.cleaning.removed.items() if n} if self.cleaning else {}
        return {
            "sft": self.sft,
            "dpo": self.dpo,
            "kto": self.kto,
            "skipped": dict(self.skipped),
            "removed_by_cleaning": removed,
            "files": sorted(self.files),
        }


def parse_time(value: str | None, name: str, end: bool = False) -> float | None:
    """ISO date or date-time (local time unless it names a zone) -> epoch seconds. A bare date as an end
    bound means the end of that day."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise RagtuneError(f"{name}: {value!r} is not an ISO date (2025-01-31) or date-time") from err
    if end and len(value) == 10:
        moment += timedelta(days=1)
    return moment.timestamp()


def export(
    store: FeedbackStore,
    out: Path,
    where: ExportFilter | None = None,
    *,
    mask_pii: bool = True,
    pii_keep: tuple[str, ...] = (),
) -> ExportResult:
    """Writes sft.jsonl, dpo.jsonl, kto.jsonl (each only when it has samples) and export.json (the counts)
    to `out`."""
    where = where or ExportFilter()
    samples, pairs, rated, skipped = [], [], [], Counter()
    for chat, feedback in store.rated(where.since, where.until, where.model, where.collection, where.rating):
        prompt = training_prompt(chat.messages)
        if prompt is None:
            skipped["no_user_turn"] += 1
            continue
        made = _samples_of(chat, feedback, prompt, store, pairs)
        if chat.prompt is not None:  # a generated answer (not a preset, fallback or curated one)
            rated.append(_rated_answer(chat, feedback, prompt))
        if made:
            samples.append(made)
        elif not feedback.preferred_over and chat.prompt is None:
            skipped["down_without_correction"] += 1
    options = CleaningOptions(mask_pii=mask_pii, keep=tuple(pii_keep))
    samples, report = clean(samples, options) if samples else ([], None)
    pairs = _clean_pairs(pairs, options, skipped)
    rated = _clean_rated(rated, options, skipped)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult(
        folder=out,
        files={},
        sft=len(samples),
        dpo=len(pairs),
        kto=len(rated),
        skipped=skipped,
        cleaning=report,
    )
    _write_jsonl(out / SFT_FILE, [_sft_record(s) for s in samples], result)
    _write_jsonl(out / DPO_FILE, pairs, result)
    _write_jsonl(out / KTO_FILE, rated, result)
    (out / SUMMARY_FILE).write_text(json.dumps(result.summary(), indent=2), encoding="utf-8")
    return result


def training_prompt(messages: list[dict]) -> list[dict] | None:
    """The request's messages as training turns (system/user/assistant text); None unless it ends with the
    user's turn. Tool turns and empty turns are left out; `developer` counts as system."""
    turns = []
    for message in messages:
        role, content = _ROLES.get(message.get("role")), _text(message.get("content"))
        if role and content.strip():
            turns.append({"role": role, "content": content})
    return turns if turns and turns[-1]["role"] == "user" else None


def gold_sources(chat: ChatRecord, answer: str) -> list[str]:
    """The sources an answer cites ([n] marks), else every source the user was shown."""
    ids = [s.get("source") or s.get("document_id") or "" for s in chat.sources]
    cited = [ids[n - 1] for n in cited_numbers(answer) if 0 < n <= len(ids)]
    return [i for i in dict.fromkeys(cited or ids) if i]


def _samples_of(
    chat: ChatRecord, feedback: Feedback, prompt: list[dict], store: FeedbackStore, pairs: list[dict]
) -> Conversation | None:
    """The SFT sample of one feedback (None: nothing to learn) and its DPO pairs, appended to `pairs`."""
    best = feedback.corrected_answer or (chat.answer if feedback.rating == "up" else None)
    if feedback.corrected_answer:
        pairs.append(_pair(chat, prompt, feedback.corrected_answer, chat.answer))
    if feedback.preferred_over:
        other = store.get_chat(feedback.preferred_over)
        if other is not None:
            pairs.append(_pair(chat, prompt, best or chat.answer, other.answer))
    if best is None:
        return None
    messages = [*prompt, {"role": "assistant", "content": best}]
    return Conversation(messages=messages, gold_sources=gold_sources(chat, best), id=chat.response_id)


def _rated_answer(chat: ChatRecord, feedback: Feedback, prompt: list[dict]) -> dict:
    """The thumbs on a generated answer as a KTO record, with what its prompt was built from."""
    return {
        "messages": prompt,
        "completion": chat.answer,
        "label": feedback.rating == "up",
        **_served_with(chat),
        "id": chat.response_id,
    }


def _clean_rated(records: list[dict], options: CleaningOptions, skipped: Counter) -> list[dict]:
    """Personal data masked in the conversation and the answer (the sources and system prompt are the
    knowledge base's and the operator's: they stay as the prompt had them); empty answers and repeats
    dropped. No other change: the prompt must stay the one the server built."""
    kept, seen = [], set()
    for record in records:
        if options.mask_pii:
            record = {
                **record,
                **mask_value({k: record[k] for k in ("messages", "completion")}, options.keep),
            }
        key = json.dumps([record["messages"], record["completion"], record["label"]], ensure_ascii=False)
        if not record["completion"].strip():
            skipped["empty_answer"] += 1
        elif key in seen:
            skipped["duplicate_rated_answer"] += 1
        else:
            seen.add(key)
            kept.append(record)
    return kept


def _pair(chat: ChatRecord, prompt: list[dict], chosen: str, rejected: str) -> dict:
    """A pair on the prompt `chat`'s answer was generated from (that of the chosen answer)."""
    return {
        "messages": prompt,
        "chosen": chosen,
        "rejected": rejected,
        **_served_with(chat),
        "id": chat.response_id,
    }


def _served_with(chat: ChatRecord) -> dict:
    """What the server built the chat's prompt from: the sources as the prompt got them (None: RAG off), the
    system prompt and style tag; all None for an answer no prompt was built for (preset, fallback, curated)."""
    built = chat.prompt or {}
    return {key: built.get(key) for key in ("sources", "system_prompt", "style")}


def _clean_pairs(pairs: list[dict], options: CleaningOptions, skipped: Counter) -> list[dict]:
    """Normalised text, personal data masked; pairs whose answers are equal or empty, and repeats, dropped."""
    kept, seen = [], set()
    for pair in pairs:
        if options.mask_pii:  # the response id and what the prompt was built from stay (as for rated answers)
            pair = {
                **pair,
                **mask_value({k: pair[k] for k in ("messages", "chosen", "rejected")}, options.keep),
            }
        chosen, rejected = (normalise_text(pair[k])[0] for k in ("chosen", "rejected"))
        key = json.dumps([pair["messages"], chosen, rejected], ensure_ascii=False)
        if not chosen or not rejected or chosen == rejected:
            skipped["pair_without_difference"] += 1
        elif key in seen:
            skipped["duplicate_pair"] += 1
        else:
            seen.add(key)
            kept.append({**pair, "chosen": chosen, "rejected": rejected})
    return kept


def _sft_record(sample: Conversation) -> dict:
    return {"messages": sample.messages, "gold_sources": sample.gold_sources, "id": sample.id}


def _write_jsonl(path: Path, records: list[dict], result: ExportResult) -> None:
    path.unlink(missing_ok=True)  # a stale file from an earlier export must not pass for this one
    if records:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        result.files[path.name] = path


def _text(content) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""
