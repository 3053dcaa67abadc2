"""The project's error types for mistakes a user can cause. One base class; the subclasses say what kind
of failure it is, so the server maps them to an HTTP status without guessing. The message says what and where.
"""

import re


class RagtuneError(Exception):
    """A user-caused error; str(error) is the message to show, no traceback needed. Plain ones are
    invalid input (HTTP 400)."""

    status = 400

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.param, self.code = param, code  # which request field, and a stable machine-readable code


class ForbiddenError(RagtuneError):
    """Outside what the operator allows (a folder outside knowledge.sync_roots), whoever asks."""

    status = 403


class NotFoundError(RagtuneError):
    """A named thing (document, adapter, model, version, response id) does not exist."""

    status = 404


class ConflictError(RagtuneError):
    """The request clashes with what is stored (a duplicate, a name already taken)."""

    status = 409


class UnavailableError(RagtuneError):
    """Try again later: a lock is held by another writer, a queue is full."""

    status = 503


def mask_credentials(text: str) -> str:
    """A database URL's or DSN's password masked, also one holding '@' (user:p@ss@host): the password runs
    to the last '@' before the host."""
    text = re.sub(r"://([^:/@\s]+):\S*@", r"://\1:***@", text)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", text, flags=re.IGNORECASE)
