"""What every store under RAGTUNE_HOME writes with: one writer at a time across processes, and files replaced
whole (written aside, synced, renamed over).

The lock is a file lock beside the store, or, when the feedback database is PostgreSQL, a session-level
advisory lock in it: replicas on several hosts share RAGTUNE_HOME over a network file system, where file locks
are not reliable, but they all reach the one database. Either gives up after knowledge.lock_timeout_s with a
clear message."""

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from filelock import FileLock, Timeout

from core.errors import UnavailableError, mask_credentials

logger = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 10


@contextmanager
def write_lock(
    lock_file: Path, timeout_s: float, what: str, database_url: str | None = None
) -> Iterator[None]:
    """Hold the lock of `lock_file` (in PostgreSQL when `database_url` is set); after `timeout_s` a 503 naming
    `what` and the setting that sets the wait."""
    if database_url:
        with advisory_lock(database_url, advisory_key(lock_file), timeout_s, what):
            yield
        return
    lock = FileLock(lock_file)
    try:
        lock.acquire(timeout=timeout_s)
    except Timeout:
        raise UnavailableError(
            f"{what}: another process is changing it (lock {lock_file}); gave up after waiting "
            f"{timeout_s:g}s (knowledge.lock_timeout_s). Try again when it is done."
        ) from None
    try:
        yield
    finally:
        lock.release()


def advisory_key(lock_file: Path) -> int:
    """The advisory lock's key: the lock's name within RAGTUNE_HOME (kb/write.lock), not its path, so replicas
    that mount the shared volume at different paths take the same lock (homes that share one database only
    wait for each other's writes)."""
    name = f"ragtune:{lock_file.parent.name}/{lock_file.name}"
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def advisory_lock(database_url: str, key: int, timeout_s: float, what: str) -> Iterator[None]:
    """pg_advisory_lock(key) on a connection of its own, held while the body runs; the lock also ends with the
    connection, so a writer that dies never leaves it held."""
    try:
        conn = psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
    except psycopg.OperationalError as err:
        raise _unreachable(what, err) from None
    with conn:
        try:
            # lock_timeout 0 would wait for ever: the shortest wait PostgreSQL knows is a millisecond
            conn.execute(
                "SELECT set_config('lock_timeout', %s, false)", (f"{max(1, round(timeout_s * 1000))}ms",)
            )
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except psycopg.errors.LockNotAvailable:
            raise UnavailableError(
                f"{what}: another replica or process is changing it (PostgreSQL advisory lock {key}); gave up "
                f"after waiting {timeout_s:g}s (knowledge.lock_timeout_s). Try again when it is done."
            ) from None
        except psycopg.Error as err:
            raise _unreachable(what, err) from None
        try:
            yield
        finally:
            try:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except (psycopg.OperationalError, psycopg.InterfaceError) as err:
                logger.warning(
                    "%s: the connection holding its write lock was lost while writing: %s", what, err
                )


def _unreachable(what: str, err: Exception) -> UnavailableError:
    """The client's error names the setting; the connection details (host, user) stay in the server log."""
    logger.warning(
        "%s: the feedback database holding its write lock failed: %s", what, mask_credentials(str(err))
    )
    return UnavailableError(
        f"{what}: its write lock is kept in the feedback database (feedback.database_url), which cannot be "
        "reached (the server log has the details). Try again when it is back."
    )


def write_atomic(path: Path, data: bytes) -> None:
    """`path` holds either its old bytes or `data`, whatever happens to this process meanwhile."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def replaced_stamp(path: Path) -> tuple | None:
    """Changes whenever `path` is replaced by `write_atomic` (from any process); None while it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
