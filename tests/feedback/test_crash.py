"""A writer process killed with SIGKILL leaves a readable SQLite log that lost only its queued rows."""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from feedback.store import SqliteStore
from tests.feedback.conftest import chat

REPO = Path(__file__).resolve().parents[2]
QUEUE, BATCH = 50, 10
WRITER = f"""
import sys, time
from feedback.log import ConversationLog
from feedback.store import SqliteStore
from tests.feedback.conftest import chat

store = SqliteStore(sys.argv[1])
store.migrate()
log = ConversationLog(store, queue_size={QUEUE}, batch_size={BATCH})
log.start()
accepted = 0
while True:
    if log.record(chat(f"r{{accepted}}", answer="a fairly long answer " * 20)):
        accepted += 1
        if accepted % 25 == 0:
            print(accepted, flush=True)
    else:
        time.sleep(0.0005)
"""


def test_killed_writer_leaves_a_readable_log_missing_only_queued_rows(tmp_path):
    path = tmp_path / "feedback.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        accepted = 0
        for line in process.stdout:  # the writer is in full flow: thousands of rows in many batches
            accepted = int(line)
            if accepted >= 3000:
                break
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
    assert accepted >= 3000

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [row[0] for row in db.execute("SELECT response_id FROM chat_log")]
    stored = len(ids)
    # Written in order, so what was lost is the tail: the rows still queued or in the batch being written.
    assert sorted(ids, key=lambda i: int(i[1:])) == [f"r{n}" for n in range(stored)]
    assert stored >= accepted - QUEUE - BATCH

    store = SqliteStore(path)  # and the log goes on where it stopped
    store.add_chats([chat("after-restart")])
    assert store.get_chat("after-restart") is not None and store.get_chat("r0").answer.startswith("a fairly")
    store.close()
