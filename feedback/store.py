"""The feedback database behind one interface, `FeedbackStore`, on SQLite (default, WAL) or PostgreSQL
(psycopg 3). The SQL is shared; a backend only says how to connect and how its dialect differs.
A store is one connection used by one thread at a time (the log's writer has a store of its own); a lost
or locked database raises UnavailableError."""

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import astuple, fields
from pathlib import Path

from core.errors import UnavailableError, mask_credentials
from core.settings import FeedbackSettings
from feedback.records import ChatRecord, Feedback

logger = logging.getLogger(__name__)
CHAT_COLUMNS = [f.name for f in fields(ChatRecord)]
FEEDBACK_COLUMNS = [f.name for f in fields(Feedback)]
_JSON_COLUMNS = {"messages", "sources", "decisions", "prompt"}
_ENCODE = json.JSONEncoder(
    ensure_ascii=False, check_circular=False
).encode  # json.dumps(**kw) builds one per call

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS chat_log (
        response_id TEXT PRIMARY KEY, model TEXT NOT NULL, messages TEXT NOT NULL, answer TEXT NOT NULL,
        sources TEXT NOT NULL, adapter TEXT, collection TEXT, experiment TEXT, variant TEXT,
        decisions TEXT NOT NULL, latency_s {float}, prompt_tokens INTEGER, completion_tokens INTEGER,
        user_id TEXT, created {float} NOT NULL, client TEXT, prompt TEXT)""",
    "CREATE INDEX IF NOT EXISTS chat_log_created ON chat_log (created)",
    "CREATE INDEX IF NOT EXISTS chat_log_experiment ON chat_log (experiment, variant)",
    """CREATE TABLE IF NOT EXISTS feedback (
        response_id TEXT PRIMARY KEY, rating TEXT NOT NULL, reason TEXT, corrected_answer TEXT,
        preferred_over TEXT, created {float} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS experiments (
        name TEXT PRIMARY KEY, model TEXT NOT NULL, spec TEXT NOT NULL, started {float} NOT NULL,
        stopped {float})""",
    # At most one running experiment per served model, across every replica.
    "CREATE UNIQUE INDEX IF NOT EXISTS experiments_running ON experiments (model) WHERE stopped IS NULL",
    # (the columns added since: a database made before gains them in migrate())
    """CREATE TABLE IF NOT EXISTS assignments (
        experiment TEXT NOT NULL, user_id TEXT NOT NULL, variant TEXT NOT NULL, created {float} NOT NULL,
        PRIMARY KEY (experiment, user_id))""",
]
# (table, column, type) added after the first release
ADDED_COLUMNS = [("chat_log", "client", "TEXT"), ("chat_log", "prompt", "TEXT")]
FIRST_RETRY_S, LAST_RETRY_S = 0.5, 30.0  # backoff after a failure: doubled per failure up to the last


class FeedbackStore:
    """Conversation log, feedback, experiments and assignments. Subclasses connect (SQLite, PostgreSQL)."""

    float_type = "REAL"
    migrating = ""  # a statement that makes replicas starting together migrate one at a time
    where = ""  # the database, for messages (no password)
    errors: tuple[type[Exception], ...] = ()  # the backend's "cannot reach / locked" errors

    def __init__(self) -> None:
        self._conn = None
        self._lock = threading.RLock()  # one connection, one transaction at a time
        self._backoff = 0.0  # seconds until the next try after a failure (0: no failure)
        self._retry_at = 0.0  # time.monotonic() before which calls fail at once

    @property
    def retry_in(self) -> float:
        """Seconds until the database is tried again after a failure (0: it is tried at once)."""
        return max(0.0, self._retry_at - time.monotonic())

    # -- backend hooks --------------------------------------------------------------------------------
    def _connect(self):
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    # -- the connection -------------------------------------------------------------------------------
    @contextmanager
    def _cursor(self) -> Iterator:
        """A cursor in one transaction: committed on success, rolled back on error. A broken connection
        is dropped (the next call reconnects) and reported as UnavailableError.
        Once it failed, calls fail at once until a backoff has passed (FIRST_RETRY_S doubled per failure up
        to LAST_RETRY_S), so that an outage costs callers no connect timeout each. The details (host, file)
        go to the server log only; the error says what failed, never where."""
        with self._lock:
            if self.retry_in > 0:
                raise UnavailableError(
                    f"the feedback database is unavailable (retried in {self.retry_in:.0f} s); "
                    "the server log has the details"
                )
            try:
                if self._conn is None:
                    self._conn = self._connect()
                conn = self._conn
            except self.errors as err:
                raise self._failed("cannot be opened", err) from err
            try:
                cursor = conn.cursor()
                yield cursor
                conn.commit()
            except self.errors as err:
                self.close()
                raise self._failed("failed", err) from err
            except BaseException:
                conn.rollback()
                raise
            self._backoff = 0.0

    def _failed(self, what: str, err: Exception) -> UnavailableError:
        self._backoff = min(LAST_RETRY_S, self._backoff * 2 or FIRST_RETRY_S)
        self._retry_at = time.monotonic() + self._backoff
        logger.warning("feedback database %s %s: %s", self.where, what, mask_credentials(str(err)))
        return UnavailableError(f"the feedback database {what}; the server log has the details")

    def _run(self, sql: str, params: tuple = ()) -> int:
        with self._cursor() as cursor:
            cursor.execute(self._sql(sql), params)
            return cursor.rowcount

    def _all(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._cursor() as cursor:
            cursor.execute(self._sql(sql), params)
            return cursor.fetchall()

    def migrate(self) -> None:
        with self._cursor() as cursor:
            if self.migrating:
                cursor.execute(self.migrating)
            for statement in SCHEMA:
                cursor.execute(statement.format(float=self.float_type))
            for table, column, kind in ADDED_COLUMNS:
                if column not in self._columns(cursor, table):
                    cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _columns(self, cursor, table: str) -> set[str]:
        cursor.execute(self._sql("SELECT * FROM " + table + " WHERE 1 = 0"))
        return {column[0] for column in cursor.description}

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with suppress(Exception):  # a connection that broke may fail to close
                    conn.close()

    # -- conversation log -----------------------------------------------------------------------------
    def add_chats(self, records: list[ChatRecord]) -> None:
        """Stores the records in one transaction; a response id already stored is left as it is."""
        sql = (
            f"INSERT INTO chat_log ({', '.join(CHAT_COLUMNS)}) VALUES ({', '.join('?' * len(CHAT_COLUMNS))}) "
            "ON CONFLICT (response_id) DO NOTHING"
        )
        with self._cursor() as cursor:
            cursor.executemany(self._sql(sql), [_chat_row(r) for r in records])

    def get_chat(self, response_id: str) -> ChatRecord | None:
        rows = self._all(
            f"SELECT {', '.join(CHAT_COLUMNS)} FROM chat_log WHERE response_id = ?", (response_id,)
        )
        return _chat(rows[0]) if rows else None

    def count_chats(self) -> int:
        return self._all("SELECT COUNT(*) FROM chat_log")[0][0]

    def delete_before(self, cutoff: float) -> int:
        """Deletes conversations older than `cutoff` (epoch seconds), their feedback and old assignments."""
        with self._cursor() as cursor:
            cursor.execute(
                self._sql(
                    "DELETE FROM feedback WHERE response_id IN "
                    "(SELECT response_id FROM chat_log WHERE created < ?)"
                ),
                (cutoff,),
            )
            cursor.execute(self._sql("DELETE FROM chat_log WHERE created < ?"), (cutoff,))
            deleted = cursor.rowcount
            cursor.execute(self._sql("DELETE FROM assignments WHERE created < ?"), (cutoff,))
        return deleted

    # -- feedback -------------------------------------------------------------------------------------
    def add_feedback(self, feedback: Feedback) -> bool:
        """False when that response already has feedback."""
        sql = (
            f"INSERT INTO feedback ({', '.join(FEEDBACK_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(FEEDBACK_COLUMNS))}) ON CONFLICT (response_id) DO NOTHING"
        )
        return self._run(sql, tuple(_text(value) for value in astuple(feedback))) == 1

    def get_feedback(self, response_id: str) -> Feedback | None:
        rows = self._all(
            f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM feedback WHERE response_id = ?", (response_id,)
        )
        return _feedback(rows[0]) if rows else None

    def rated(
        self,
        since: float | None = None,
        until: float | None = None,
        model: str | None = None,
        collection: str | None = None,
        rating: str | None = None,
    ) -> list[tuple[ChatRecord, Feedback]]:
        """Conversations with feedback, oldest first, filtered by creation time, model, collection, rating."""
        conditions = {
            "c.created >= ?": since,
            "c.created < ?": until,
            "c.model = ?": model,
            "c.collection = ?": collection,
            "f.rating = ?": rating,
        }
        used = {sql: value for sql, value in conditions.items() if value is not None}
        where = " AND ".join(used) or "1 = 1"
        return [
            (_chat(row[: len(CHAT_COLUMNS)]), _feedback(row[len(CHAT_COLUMNS) :]))
            for row in self._all(
                f"SELECT {_prefixed('c', CHAT_COLUMNS)}, {_prefixed('f', FEEDBACK_COLUMNS)} FROM chat_log c "
                f"JOIN feedback f ON f.response_id = c.response_id WHERE {where} ORDER BY c.created",
                tuple(used.values()),
            )
        ]

    def recent(self, since: float, limit: int) -> list[tuple[ChatRecord, Feedback | None]]:
        """Logged completions created since `since`, newest first, at most `limit`, with their feedback."""
        rows = self._all(
            f"SELECT {_prefixed('c', CHAT_COLUMNS)}, {_prefixed('f', FEEDBACK_COLUMNS)} FROM chat_log c "
            "LEFT JOIN feedback f ON f.response_id = c.response_id WHERE c.created >= ? "
            "ORDER BY c.created DESC LIMIT ?",
            (since, limit),
        )
        n = len(CHAT_COLUMNS)
        return [(_chat(row[:n]), _feedback(row[n:]) if row[n] is not None else None) for row in rows]

    def experiment_rows(self, experiment: str) -> list[tuple[ChatRecord, Feedback | None]]:
        """Every logged completion of an experiment with its feedback, if any."""
        rows = self._all(
            f"SELECT {_prefixed('c', CHAT_COLUMNS)}, {_prefixed('f', FEEDBACK_COLUMNS)} FROM chat_log c "
            "LEFT JOIN feedback f ON f.response_id = c.response_id WHERE c.experiment = ? ORDER BY c.created",
            (experiment,),
        )
        n = len(CHAT_COLUMNS)
        return [(_chat(row[:n]), _feedback(row[n:]) if row[n] is not None else None) for row in rows]

    # -- experiments and assignments ------------------------------------------------------------------
    def insert_experiment(self, name: str, model: str, spec: str, started: float) -> bool:
        """False when the name is taken or the model already has a running experiment."""
        sql = (
            "INSERT INTO experiments (name, model, spec, started) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
        )
        return self._run(sql, (name, model, spec, started)) == 1

    def update_experiment(self, name: str, spec: str) -> bool:
        return (
            self._run("UPDATE experiments SET spec = ? WHERE name = ? AND stopped IS NULL", (spec, name)) == 1
        )

    def stop_experiment(self, name: str, stopped: float) -> bool:
        sql = "UPDATE experiments SET stopped = ? WHERE name = ? AND stopped IS NULL"
        return self._run(sql, (stopped, name)) == 1

    def experiments(self) -> list[tuple[str, str, str, float, float | None]]:
        """(name, model, spec JSON, started, stopped) of every experiment, newest first."""
        return self._all("SELECT name, model, spec, started, stopped FROM experiments ORDER BY started DESC")

    def assignment(self, experiment: str, user_id: str) -> str | None:
        rows = self._all(
            "SELECT variant FROM assignments WHERE experiment = ? AND user_id = ?", (experiment, user_id)
        )
        return rows[0][0] if rows else None

    def add_assignments(self, rows: list[tuple[str, str, str, float]]) -> None:
        """(experiment, user id, variant, created); the first assignment of a user stays."""
        sql = (
            "INSERT INTO assignments (experiment, user_id, variant, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (experiment, user_id) DO NOTHING"
        )
        with self._cursor() as cursor:
            cursor.executemany(self._sql(sql), rows)


class SqliteStore(FeedbackStore):
    """One file in write-ahead-log mode: readers never block the writer, a killed writer loses no commit."""

    errors = (sqlite3.OperationalError,)

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.where = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self):
        if not self.path.exists():  # conversations and feedback: readable by this user only
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: durable against a killed process
        return conn


class PostgresStore(FeedbackStore):
    float_type = "DOUBLE PRECISION"
    # concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL's catalog: a lock held to the commit
    migrating = "SELECT pg_advisory_xact_lock(hashtext('ragtune feedback migration'))"
    connect_timeout = 10  # seconds

    def __init__(self, url: str) -> None:
        import psycopg

        super().__init__()
        self.url = url
        self.where = mask_credentials(url)
        self.errors = (psycopg.OperationalError, psycopg.InterfaceError)
        self._psycopg = psycopg

    def _connect(self):
        return self._psycopg.connect(self.url, connect_timeout=self.connect_timeout)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")


def open_store(config: FeedbackSettings, home: Path) -> FeedbackStore:
    """The store `config` names (PostgreSQL URL, else SQLite in the home folder), migrated."""
    url = config.database_url
    store = PostgresStore(url) if url else SqliteStore(Path(home) / "feedback.sqlite")
    store.migrate()
    return store


def _text(value):
    """PostgreSQL's text cannot hold NUL: one in a field (a collection, a user id) would make the whole batch
    fail, so it is dropped (SQLite is treated alike, so both keep the same text)."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def _prefixed(alias: str, columns: list[str]) -> str:
    return ", ".join(f"{alias}.{c}" for c in columns)


def _chat_row(record: ChatRecord) -> tuple:
    return tuple(
        _ENCODE(getattr(record, c)) if c in _JSON_COLUMNS else _text(getattr(record, c)) for c in CHAT_COLUMNS
    )


def _chat(row: tuple) -> ChatRecord:
    # A row logged before a JSON column was added holds NULL there.
    values = {
        c: json.loads(v) if c in _JSON_COLUMNS and v is not None else v for c, v in zip(CHAT_COLUMNS, row)
    }
    return ChatRecord(**values)


def _feedback(row: tuple) -> Feedback:
    return Feedback(**dict(zip(FEEDBACK_COLUMNS, row)))
