"""A server in a child process: start it, wait until it answers, stop it. Used by `ragtune eval`, the
tests and the benchmarks, for ragtune's own server and vLLM's."""

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from core.errors import RagtuneError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server_process(
    command: list[str],
    env: dict,
    log: Path,
    ready_url: str,
    *,
    name: str,
    timeout_s: float = 600,
) -> Iterator[subprocess.Popen]:
    """Runs `command` with its output in `log` until `ready_url` answers 200; stops it on leaving.
    `name` is what error messages call it."""
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(process, name, log, ready_url, timeout_s)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen, name: str, log: Path, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RagtuneError(
                f"{name} exited with code {process.returncode} before answering:\n{_tail(log)}"
            )
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RagtuneError(f"{name} did not answer {url} within {timeout_s:.0f} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]
