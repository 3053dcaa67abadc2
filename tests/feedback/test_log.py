"""The conversation log never slows or breaks a chat request: a full queue drops and counts rows."""

import threading
import time

from core.settings import PiiSettings
from feedback.log import ConversationLog
from feedback.store import open_store
from tests.feedback.conftest import chat, feedback_service, wait_for


class BlockedStore:
    """A store whose writes hang until released, like a database that stalls."""

    def __init__(self, store):
        self.store, self.release, self.writing = store, threading.Event(), threading.Event()

    def add_chats(self, records):
        self.writing.set()
        self.release.wait()
        self.store.add_chats(records)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_a_full_queue_drops_and_counts_rows_without_blocking(sqlite_store):
    stalled = BlockedStore(sqlite_store)
    log = ConversationLog(stalled, queue_size=10, batch_size=5)
    log.start()
    log.record(chat("first"))
    assert stalled.writing.wait(5)  # the writer is stuck on its first batch
    started = time.monotonic()
    accepted = [log.record(chat(f"r{i}")) for i in range(100)]
    elapsed = time.monotonic() - started
    assert accepted.count(True) == 10 and log.dropped == 90
    assert elapsed < 2.0  # the caller never waited for the stalled database
    stalled.release.set()
    log.close()
    assert sqlite_store.count_chats() == 11  # everything accepted was written on close
    assert log.written == 11


def test_a_failing_database_does_not_stop_the_writer(sqlite_store):
    class Flaky:
        calls = 0

        def add_chats(self, records):
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("database went away")
            sqlite_store.add_chats(records)

        def __getattr__(self, name):
            return getattr(sqlite_store, name)

    log = ConversationLog(Flaky(), queue_size=100)
    log.start()
    log.record(chat("lost"))
    assert log.flush()
    log.record(chat("kept"))
    log.close()
    assert log.failed == 1
    assert sqlite_store.get_chat("kept") is not None


def test_personal_data_is_masked_before_storage(tmp_path):
    service = feedback_service(tmp_path).start()
    service.record(
        chat(
            "chatcmpl-1",
            user_id="jane.doe@example.com",
            messages=[{"role": "user", "content": "I am jane.doe@example.com, call 13812345678"}],
            answer="We will call 13812345678.",
            decisions={"handoff": "agent for 13812345678"},
        )
    )
    service.close()
    service = feedback_service(tmp_path).start()
    stored = service.store.get_chat("chatcmpl-1")
    service.close()
    assert stored.messages[0]["content"] == "I am [EMAIL], call [PHONE]"
    assert stored.answer == "We will call [PHONE]."
    assert stored.decisions == {"handoff": "agent for [PHONE]"}
    assert stored.user_id.startswith("u_") and "jane" not in stored.user_id
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("feedback.sqlite*"))
    assert b"13812345678" not in raw and b"jane.doe" not in raw


def test_the_companys_own_addresses_stay_in_the_log(tmp_path):
    service = feedback_service(tmp_path, PiiSettings(keep=["support@northwind.example"])).start()
    answer = "写信给 support@northwind.example，不是 jane.doe@mail.example。"
    service.record(chat("chatcmpl-1", answer=answer))
    assert service.log.flush()
    assert service.store.get_chat("chatcmpl-1").answer == "写信给 support@northwind.example，不是 [EMAIL]。"
    service.close()


def test_masking_can_be_turned_off(tmp_path):
    service = feedback_service(tmp_path, PiiSettings(mask_in_log=False)).start()
    service.record(chat("chatcmpl-1", user_id="jane", answer="Call 13812345678."))
    assert service.log.flush()
    assert service.store.get_chat("chatcmpl-1").answer == "Call 13812345678."
    assert service.store.get_chat("chatcmpl-1").user_id == "jane"
    service.close()


def test_logging_off_with_one_setting(tmp_path):
    service = feedback_service(tmp_path, enabled=False).start()
    assert service.record(chat("chatcmpl-1")) is False
    assert service.assign("assistant", "user-1") is None
    service.close()
    assert not (tmp_path / "feedback.sqlite").exists()


def test_rows_past_the_retention_period_are_deleted(tmp_path):
    service = feedback_service(tmp_path, retention_days=30)
    earlier = open_store(service.config, tmp_path)
    earlier.add_chats([chat("old", created=time.time() - 31 * 86400)])
    earlier.close()
    service.start()
    service.record(chat("new"))
    assert service.log.flush()
    assert wait_for(lambda: service.store.get_chat("old") is None)
    assert service.store.get_chat("new") is not None
    service.close()


def test_one_row_the_database_refuses_loses_no_other_row(sqlite_store):
    class Picky:
        """Refuses any batch holding the row answered 'refused' (as PostgreSQL refuses a bad value)."""

        def add_chats(self, records):
            if any(r.answer == "refused" for r in records):
                raise ValueError("invalid byte sequence")
            sqlite_store.add_chats(records)

        def __getattr__(self, name):
            return getattr(sqlite_store, name)

    log = ConversationLog(Picky(), queue_size=100, batch_size=50)
    for n in range(5):
        log.record(chat(f"r{n}", answer="refused" if n == 2 else "fine"))
    log.start()
    log.close()
    assert sqlite_store.count_chats() == 4 and sqlite_store.get_chat("r2") is None
    assert (log.written, log.failed) == (4, 1)


def test_rows_wait_for_a_database_that_is_down_and_none_is_lost(sqlite_store):
    from core.errors import UnavailableError

    class Outage:
        """Unavailable for the first three writes, like a PostgreSQL restarting."""

        calls = 0

        def add_chats(self, records):
            Outage.calls += 1
            if Outage.calls <= 3:
                raise UnavailableError("the feedback database cannot be opened")
            sqlite_store.add_chats(records)

        def __getattr__(self, name):
            return getattr(sqlite_store, name)

    log = ConversationLog(Outage(), queue_size=100)
    log.start()
    for n in range(10):
        assert log.record(chat(f"r{n}"))
    assert wait_for(lambda: sqlite_store.count_chats() == 10, timeout=30)
    log.close()
    assert Outage.calls >= 4 and log.failed == 0 and log.dropped == 0
