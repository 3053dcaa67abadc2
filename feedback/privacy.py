"""Personal data out of what the feedback database keeps: text masked with core.pii's tags, end-user ids
replaced by a stable pseudonym (the same user keeps the same key, so stats and assignments still work). The
pseudonym is an HMAC with a secret: a plain hash of a phone number or e-mail address is reversed by hashing
every candidate, an HMAC only by whoever holds the secret."""

import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import replace
from pathlib import Path

from core.folding import fold_patterns
from core.pii import mask_personal_data
from core.settings import PiiSettings
from feedback.records import ChatRecord

# A necessary condition for every kind core.pii finds, on the text as its patterns read it (folded: "＠" is
# "@", fullwidth digits are digits, zero-width characters are gone): an "@" (e-mail) or 8 digits with at most
# 3 separators between neighbours (ID, card and phone numbers). One quick scan spares most text the full
# matcher (benchmarks/feedback_log.py measures it).
_MAYBE_PERSONAL = re.compile(r"@|\d(?:\W{0,3}\d){7}")


def mask_text(text: str, keep: tuple[str, ...] = ()) -> str:
    maybe = _MAYBE_PERSONAL.search(fold_patterns(text).text)
    return mask_personal_data(text, keep=keep) if maybe else text


SECRET_FILE = "pseudonym.key"  # in RAGTUNE_HOME when pii.pseudonym_secret is unset


def pseudonym(user_id: str, secret: bytes) -> str:
    return "u_" + hmac.new(secret, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def ephemeral_secret() -> bytes:
    """A secret for one process (tests, tools): pseudonyms that match nothing stored elsewhere."""
    return secrets.token_bytes(32)


def pseudonym_secret(pii: PiiSettings, home: Path) -> bytes:
    """pii.pseudonym_secret, else the one in RAGTUNE_HOME/pseudonym.key, made (0600) on first use: replicas
    that share the home folder share it; replicas with homes of their own need the setting."""
    if pii.pseudonym_secret is not None:
        return pii.pseudonym_secret.get_secret_value().encode("utf-8")
    path = Path(home) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: of two replicas starting together one writes it, the other reads it
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        for _ in range(50):  # the other replica may be writing it right now
            text = path.read_text(encoding="ascii").strip()
            if text:
                return text.encode("ascii")
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty: delete it, or set pii.pseudonym_secret") from None
    text = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(text + "\n")
    return text.encode("ascii")


def mask_value(value, keep: tuple[str, ...] = ()):
    """Masks every string inside a JSON-like value (dicts, lists), leaving numbers and keys as they are."""
    if isinstance(value, str):
        return mask_text(value, keep)
    if isinstance(value, list):
        return [mask_value(v, keep) for v in value]
    if isinstance(value, dict):
        return {k: mask_value(v, keep) for k, v in value.items()}
    return value


def mask_record(record: ChatRecord, secret: bytes, keep: tuple[str, ...] = ()) -> ChatRecord:
    """The record with the user's messages, the answer and the decisions masked, and the user id
    pseudonymised with `secret`. Sources come from the knowledge base and stay as they are."""
    return replace(
        record,
        messages=[{**m, "content": mask_value(m.get("content"), keep)} for m in record.messages],
        answer=mask_text(record.answer, keep),
        decisions=mask_value(record.decisions, keep),
        user_id=pseudonym(record.user_id, secret) if record.user_id else None,
    )
