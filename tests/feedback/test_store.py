"""The feedback database on SQLite and on a real PostgreSQL: what goes in comes back out."""

import time

from feedback.records import Feedback
from tests.feedback.conftest import chat


def test_chat_records_round_trip(store):
    record = chat(
        "chatcmpl-1",
        user_id="u_1",
        experiment="exp",
        variant="b",
        adapter="support-v2",
        decisions={"grounding": {"fallback": True}, "handoff": "agent", "rails": {"input": ["pii"]}},
    )
    store.add_chats([record, chat("chatcmpl-2")])
    assert store.get_chat("chatcmpl-1") == record
    assert store.get_chat("missing") is None
    assert store.count_chats() == 2


def test_a_response_id_is_stored_once(store):
    store.add_chats([chat("chatcmpl-1", answer="first")])
    store.add_chats([chat("chatcmpl-1", answer="second")])
    assert store.count_chats() == 1
    assert store.get_chat("chatcmpl-1").answer == "first"


def test_feedback_round_trip_and_one_per_response(store):
    store.add_chats([chat("chatcmpl-1")])
    given = Feedback(
        response_id="chatcmpl-1",
        rating="down",
        reason="wrong model name",
        corrected_answer="Hold it for 30 seconds.",
    )
    assert store.add_feedback(given)
    assert not store.add_feedback(Feedback(response_id="chatcmpl-1", rating="up"))
    assert store.get_feedback("chatcmpl-1") == given


def test_rated_filters_by_time_model_collection_and_rating(store):
    now = time.time()
    store.add_chats(
        [
            chat("old", created=now - 86400 * 10),
            chat("new-up", created=now),
            chat("new-down", created=now),
            chat("other-model", model="other", created=now),
            chat("other-collection", collection="hr", created=now),
            chat("unrated", created=now),
        ]
    )
    for response_id, rating in [
        ("old", "up"),
        ("new-up", "up"),
        ("new-down", "down"),
        ("other-model", "up"),
        ("other-collection", "up"),
    ]:
        store.add_feedback(Feedback(response_id=response_id, rating=rating))

    def ids(**where):
        return [c.response_id for c, _ in store.rated(**where)]

    assert ids() == ["old", "new-up", "new-down", "other-model", "other-collection"]
    assert ids(since=now - 60, model="assistant", collection="support") == ["new-up", "new-down"]
    assert ids(until=now - 60) == ["old"]
    assert ids(rating="down") == ["new-down"]


def test_experiment_rows_carry_their_feedback(store):
    store.add_chats(
        [
            chat("a1", experiment="exp", variant="a"),
            chat("b1", experiment="exp", variant="b"),
            chat("x1", experiment="other", variant="a"),
        ]
    )
    store.add_feedback(Feedback(response_id="b1", rating="up"))
    rows = {c.response_id: f for c, f in store.experiment_rows("exp")}
    assert set(rows) == {"a1", "b1"}
    assert rows["a1"] is None and rows["b1"].rating == "up"


def test_one_running_experiment_per_model_and_names_kept(store):
    assert store.insert_experiment("first", "assistant", "{}", 1.0)
    assert not store.insert_experiment("second", "assistant", "{}", 2.0)  # the model is taken
    assert store.stop_experiment("first", 3.0)
    assert not store.stop_experiment("first", 4.0)
    assert not store.insert_experiment("first", "assistant", "{}", 5.0)  # the name stays taken
    assert store.insert_experiment("second", "assistant", "{}", 6.0)
    assert [(name, stopped) for name, _, _, _, stopped in store.experiments()] == [
        ("second", None),
        ("first", 3.0),
    ]


def test_the_first_assignment_of_a_user_stays(store):
    store.add_assignments([("exp", "u_1", "a", 1.0)])
    store.add_assignments([("exp", "u_1", "b", 2.0), ("exp", "u_2", "b", 2.0)])
    assert store.assignment("exp", "u_1") == "a"
    assert store.assignment("exp", "u_2") == "b"
    assert store.assignment("exp", "u_3") is None


def test_retention_deletes_old_conversations_with_their_feedback(store):
    now = time.time()
    store.add_chats([chat("old", created=now - 100 * 86400), chat("new", created=now)])
    store.add_feedback(Feedback(response_id="old", rating="up"))
    store.add_feedback(Feedback(response_id="new", rating="up"))
    assert store.delete_before(now - 90 * 86400) == 1
    assert store.get_chat("old") is None and store.get_feedback("old") is None
    assert store.get_chat("new") is not None and store.get_feedback("new") is not None
