"""User feedback on a logged response: thumbs up/down, an optional reason, a corrected answer, and on the
compare page "this column is better" (feedback on the preferred response, `preferred_over` the other)."""

from collections.abc import Callable

from core.errors import ConflictError, NotFoundError, RagtuneError
from feedback.privacy import mask_text
from feedback.records import RATINGS, ChatRecord, Feedback
from feedback.store import FeedbackStore

MAX_REASON_CHARS = 2000
MAX_ANSWER_CHARS = 20000


def add_feedback(
    store: FeedbackStore,
    response_id: str,
    rating: str,
    reason: str | None = None,
    corrected_answer: str | None = None,
    preferred_over: str | None = None,
    *,
    mask_pii: bool = True,
    pii_keep: tuple[str, ...] = (),
    catch_up: Callable[[], object] | None = None,
    client: str | None = None,
) -> Feedback:
    """Validates and stores one feedback. Unknown response -> NotFoundError, feedback already given ->
    ConflictError, bad values -> RagtuneError. `catch_up` (the log's flush) runs once before an id is
    called unknown, since the log writes off the request path and may not have written it yet. `client`:
    the name of the client key sending it, which may rate only the responses it was given (another key's
    response is unknown to it); None: any response (an admin key, or no keys configured)."""
    reason = _optional_text(reason, "reason", MAX_REASON_CHARS)
    corrected_answer = _optional_text(corrected_answer, "corrected_answer", MAX_ANSWER_CHARS)
    _check_values(response_id, rating, preferred_over)
    if mask_pii:  # before the comparison below: the logged answer is stored masked
        reason, corrected_answer = (mask_text(t, pii_keep) if t else t for t in (reason, corrected_answer))
    chat = _logged(store, response_id, "response_id", catch_up, client)
    if corrected_answer is not None and corrected_answer == chat.answer.strip():
        raise RagtuneError("corrected_answer: it is the same as the logged answer; send only what changes it")
    if preferred_over is not None:
        other = _logged(store, preferred_over, "preferred_over", catch_up, client)
        if _turns(other) != _turns(chat):
            raise RagtuneError(
                f"preferred_over: response '{preferred_over}' answered a different conversation than "
                f"'{response_id}'; a preference compares two answers to the same messages"
            )
    feedback = Feedback(
        response_id=response_id,
        rating=rating,
        reason=reason,
        corrected_answer=corrected_answer,
        preferred_over=preferred_over,
    )
    if not store.add_feedback(feedback):
        raise ConflictError(
            f"response '{response_id}' already has feedback; each response takes one",
            param="response_id",
            code="feedback_exists",
        )
    return feedback


def _check_values(response_id: str, rating: str, preferred_over: str | None) -> None:
    if not isinstance(response_id, str) or not response_id.strip():
        raise RagtuneError("response_id: give the `id` of the chat completion the feedback is about")
    if rating not in RATINGS:
        raise RagtuneError(f"rating: {rating!r} is not one of {', '.join(RATINGS)}", param="rating")
    if preferred_over is not None:
        if preferred_over == response_id:
            raise RagtuneError("preferred_over: a response cannot be preferred over itself")
        if rating != "up":
            raise RagtuneError("preferred_over: the preferred response is rated 'up'; send rating 'up'")


def _optional_text(value: str | None, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RagtuneError(f"{name}: must be text", param=name)
    value = value.strip()
    if len(value) > limit:
        raise RagtuneError(f"{name}: {len(value)} characters, at most {limit}", param=name)
    return value or None


def _logged(store: FeedbackStore, response_id: str, name: str, catch_up, client: str | None) -> ChatRecord:
    chat = store.get_chat(response_id)
    if chat is None and catch_up is not None:
        catch_up()
        chat = store.get_chat(response_id)
    if chat is None or (client is not None and chat.client != client):
        raise NotFoundError(
            f"{name}: no logged response '{response_id}' "
            "(unknown id, logging was off, or older than the retention period)",
            param=name,
            code="response_not_found",
        )
    return chat


def _turns(chat: ChatRecord) -> list[tuple[str, str]]:
    """The conversation a response answered, without system turns (two models may get different ones)."""
    return [
        (m.get("role"), str(m.get("content")))
        for m in chat.messages
        if m.get("role") in ("user", "assistant")
    ]
