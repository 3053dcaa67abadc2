"""Feedback on logged responses: what a client gets back for unknown ids, repeats and bad values."""

import pytest

from core.errors import ConflictError, NotFoundError, RagtuneError
from tests.feedback.conftest import chat, feedback_service


@pytest.fixture
def service(tmp_path):
    service = feedback_service(tmp_path).start()
    yield service
    service.close()


def test_feedback_right_after_the_answer_finds_the_logged_response(service):
    service.record(chat("chatcmpl-1"))  # still queued for the writer: no flush here
    stored = service.add_feedback("chatcmpl-1", "down", reason="outdated", corrected_answer="Hold it 30 s.")
    assert (stored.rating, stored.reason, stored.corrected_answer) == ("down", "outdated", "Hold it 30 s.")
    assert service.store.get_feedback("chatcmpl-1") == stored


def test_unknown_response_is_not_found(service):
    with pytest.raises(NotFoundError, match="no logged response 'chatcmpl-nope'") as err:
        service.add_feedback("chatcmpl-nope", "up")
    assert err.value.status == 404


def test_second_feedback_on_a_response_conflicts(service):
    service.record(chat("chatcmpl-1"))
    service.add_feedback("chatcmpl-1", "up")
    with pytest.raises(ConflictError, match="already has feedback") as err:
        service.add_feedback("chatcmpl-1", "down")
    assert err.value.status == 409
    assert service.store.get_feedback("chatcmpl-1").rating == "up"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rating": "meh"}, "rating: 'meh' is not one of up, down"),
        ({"rating": "up", "reason": "x" * 3000}, "reason: 3000 characters, at most 2000"),
        (
            {"rating": "up", "corrected_answer": "Hold the reset button for ten seconds [1]."},
            "same as the logged",
        ),
        ({"rating": "up", "preferred_over": "chatcmpl-1"}, "over itself"),
        ({"rating": "down", "preferred_over": "chatcmpl-2"}, "send rating 'up'"),
        ({"rating": "up", "preferred_over": "chatcmpl-3"}, "different conversation"),
        ({"rating": "up", "preferred_over": "chatcmpl-nope"}, "preferred_over: no logged response"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(service, kwargs, message):
    service.record(chat("chatcmpl-1"))
    service.record(chat("chatcmpl-2", model="base"))
    service.record(chat("chatcmpl-3", messages=[{"role": "user", "content": "Another question"}]))
    with pytest.raises(RagtuneError, match=message):
        service.add_feedback("chatcmpl-1", **kwargs)
    assert service.store.get_feedback("chatcmpl-1") is None


def test_compare_page_preference_is_stored_on_the_preferred_response(service):
    service.record(chat("chatcmpl-left", model="base", answer="Unplug it."))
    service.record(chat("chatcmpl-right", model="support-v2"))
    service.add_feedback("chatcmpl-right", "up", preferred_over="chatcmpl-left")
    assert service.store.get_feedback("chatcmpl-right").preferred_over == "chatcmpl-left"


def test_personal_data_in_feedback_is_masked(service):
    service.record(chat("chatcmpl-1"))
    service.add_feedback(
        "chatcmpl-1", "down", reason="call me on 13812345678", corrected_answer="Mail help@example.org"
    )
    stored = service.store.get_feedback("chatcmpl-1")
    assert (stored.reason, stored.corrected_answer) == ("call me on [PHONE]", "Mail [EMAIL]")


def test_feedback_is_unavailable_when_turned_off(tmp_path):
    service = feedback_service(tmp_path, enabled=False).start()
    with pytest.raises(RagtuneError, match="feedback database is off") as err:
        service.add_feedback("chatcmpl-1", "up")
    assert err.value.status == 503
