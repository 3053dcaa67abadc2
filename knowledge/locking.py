"""What every store under RAGTUNE_HOME writes with: one writer at a time across processes (a file lock that
gives up with a clear message), and files replaced whole (written aside, synced, renamed over)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from core.errors import UnavailableError


@contextmanager
def write_lock(lock_file: Path, timeout_s: float, what: str) -> Iterator[None]:
    """Hold `lock_file`; after `timeout_s` a 503 naming `what` and the setting that sets the wait."""
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


def write_atomic(path: Path, data: bytes) -> None:
    """`path` holds either its old bytes or `data`, whatever happens to this process meanwhile."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
