"""Personal data out of what the feedback database keeps: text masked with core.pii's tags, end-user ids
replaced by a stable pseudonym (the same user keeps the same key, so stats and assignments still work)."""

import hashlib
from dataclasses import replace

from core.pii import mask_personal_data
from feedback.records import ChatRecord


def pseudonym(user_id: str) -> str:
    return "u_" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:24]


def mask_value(value, keep: tuple[str, ...] = ()):
    """Masks every string inside a JSON-like value (dicts, lists), leaving numbers and keys as they are."""
    if isinstance(value, str):
        return mask_personal_data(value, keep=keep)
    if isinstance(value, list):
        return [mask_value(v, keep) for v in value]
    if isinstance(value, dict):
        return {k: mask_value(v, keep) for k, v in value.items()}
    return value


def mask_record(record: ChatRecord, keep: tuple[str, ...] = ()) -> ChatRecord:
    """The record with the user's messages, the answer and the decisions masked, and the user id
    pseudonymised. Sources come from the knowledge base and stay as they are."""
    return replace(
        record,
        messages=[{**m, "content": mask_value(m.get("content"), keep)} for m in record.messages],
        answer=mask_personal_data(record.answer, keep=keep),
        decisions=mask_value(record.decisions, keep),
        user_id=pseudonym(record.user_id) if record.user_id else None,
    )
