"""Starts `ragtune serve` in a subprocess on a free local port for an evaluation, with the caller's settings."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from retrieval.errors import RagtuneError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_key(settings) -> str:
    return settings.server.client_keys[0] if settings.server.client_keys else "none"


def _wait_ready(url: str, key: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RagtuneError(f"`ragtune serve` exited with code {proc.returncode} before answering:\n"
                               + log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"}, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RagtuneError(f"`ragtune serve` did not answer within {timeout_s:.0f} s:\n"
                       + log.read_text(errors="replace")[-3000:])


@contextmanager
def started_server(settings) -> Iterator[str]:
    """Yields the base URL (…/v1) of a fresh server; stops it afterwards. The settings travel as a YAML
    file (RAGTUNE_CONFIG), so a server started from code sees exactly the caller's settings."""
    with tempfile.TemporaryDirectory(prefix="ragtune-eval-") as tmp:
        yield from _run_server(settings, Path(tmp))


def _run_server(settings, workdir: Path) -> Iterator[str]:
    port = free_port()
    config = settings.model_dump(mode="json")
    config["home"] = str(Path(settings.home).resolve())
    config["server"].update(host="127.0.0.1", port=port)
    (workdir / "ragtune.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGTUNE_")}
    env["RAGTUNE_CONFIG"] = str(workdir / "ragtune.yaml")
    log = workdir / "server.log"
    command = [sys.executable, "-c", "from ragtune.cli import main; main()", "serve"]
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(url, api_key(settings), proc, log, settings.evaluation.server_start_timeout_s)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
