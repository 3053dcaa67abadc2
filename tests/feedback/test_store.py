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


def test_a_nul_in_a_field_is_dropped_not_the_batch(store):
    # PostgreSQL's text cannot hold NUL: one in a collection or user id used to fail the whole batch
    odd = chat("chatcmpl-nul", collection="sup\x00port", user_id="u\x00_1", answer="Hold\x00 it.")
    store.add_chats([chat("chatcmpl-before"), odd, chat("chatcmpl-after")])
    assert store.count_chats() == 3
    stored = store.get_chat("chatcmpl-nul")
    assert (stored.collection, stored.user_id, stored.answer) == ("support", "u_1", "Hold it.")
    assert store.add_feedback(Feedback(response_id="chatcmpl-nul", rating="down", reason="wr\x00ong"))
    assert store.get_feedback("chatcmpl-nul").reason == "wrong"


def test_the_client_key_is_stored_with_the_response(store):
    store.add_chats([chat("chatcmpl-1", client="widget")])
    assert store.get_chat("chatcmpl-1").client == "widget"


def test_a_database_made_before_client_keys_gains_the_column(tmp_path):
    import sqlite3

    from feedback.store import SqliteStore

    path = tmp_path / "feedback.sqlite"
    with sqlite3.connect(path) as db:  # the chat_log of the first release, with one row
        db.execute(
            "CREATE TABLE chat_log (response_id TEXT PRIMARY KEY, model TEXT NOT NULL, "
            "messages TEXT NOT NULL, answer TEXT NOT NULL, sources TEXT NOT NULL, adapter TEXT, collection TEXT, experiment TEXT, "
            "variant TEXT, decisions TEXT NOT NULL, latency_s REAL, prompt_tokens INTEGER, "
            "completion_tokens INTEGER, user_id TEXT, created REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO chat_log VALUES "
            "('old', 'm', '[]', 'a', '[]', NULL, NULL, NULL, NULL, '{}', 0, 0, 0, NULL, 1.0)"
        )
    store = SqliteStore(path)
    store.migrate()
    store.add_chats([chat("new", client="widget")])
    assert store.get_chat("old").client is None and store.get_chat("new").client == "widget"
    store.close()


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path):
    from feedback.store import SqliteStore

    store = SqliteStore(tmp_path / "feedback.sqlite")
    store.migrate()
    assert (tmp_path / "feedback.sqlite").stat().st_mode & 0o777 == 0o600
    store.close()


def test_errors_name_no_host_or_password_and_an_outage_is_not_retried_per_call():
    import pytest

    from core.errors import UnavailableError, mask_credentials
    from feedback.store import PostgresStore

    url = "postgresql://ragtune:p@ss@127.0.0.1:1/ragtune"  # nothing listens on port 1
    assert mask_credentials(url) == "postgresql://ragtune:***@127.0.0.1:1/ragtune"
    assert mask_credentials("host=db password=s3cret user=x") == "host=db password=*** user=x"
    store = PostgresStore(url)
    with pytest.raises(UnavailableError) as first:
        store.count_chats()
    with pytest.raises(UnavailableError) as second:  # within the backoff: not tried again
        store.count_chats()
    for err in (first.value, second.value):
        assert "127.0.0.1" not in str(err) and "p@ss" not in str(err) and "ss@" not in str(err)
    assert "cannot be opened" in str(first.value) and "retried in" in str(second.value)
    assert store.retry_in > 0
