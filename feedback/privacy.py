"""Personal data out of what the feedback database keeps: text masked with core.pii's tags, end-user ids
replaced by a stable pseudonym (the same user keeps the same key, so stats and assignments still work)."""

import hashlib
import re
from dataclasses import replace

from core.pii import mask_personal_data
from feedback.records import ChatRecord

# A necessary condition for every kind core.pii finds: an "@" (e-mail) or 8 digits with at most 3 separators
# between neighbours (ID, card and phone numbers). One quick scan spares most text the full matcher.
_MAYBE_PERSONAL = re.compile(r"@|\d(?:\W{0,3}\d){7}")


def mask_text(text: str, keep: tuple[str, ...] = ()) -> str:
    return mask_personal_data(text, keep=keep) if _MAYBE_PERSONAL.search(text) else text


def pseudonym(user_id: str) -> str:
    return "u_" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:24]


def mask_value(value, keep: tuple[str, ...] = ()):
    """Masks every string inside a JSON-like value (dicts, lists), leaving numbers and keys as they are."""
    if isinstance(value, str):
        return mask_text(value, keep)
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
        answer=mask_text(record.answer, keep),
        decisions=mask_value(record.decisions, keep),
        user_id=pseudonym(record.user_id) if record.user_id else None,
    )
