"""`ragtune serve` hands over to `python -m server`, binding to localhost when no client key is set; a busy
port is refused before anything loads."""

import os
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ragtune.cli import app


class Handover(Exception):
    pass


@pytest.fixture
def execv(monkeypatch):
    calls = []

    def fake_execv(path, argv):  # the edge: replacing the process
        calls.append(argv)
        raise Handover

    monkeypatch.setattr(os, "execv", fake_execv)
    return calls


def test_without_a_client_key_it_binds_to_localhost_and_says_so(execv, monkeypatch, tmp_path):
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path))
    # The command sets the engine in the environment for the server it hands over to: recorded here as
    # unset, so it is unset again after the test (a leak would make later live servers use transformers).
    monkeypatch.setenv("RAGTUNE_ENGINE__KIND", "auto")
    monkeypatch.delenv("RAGTUNE_SERVER__CLIENT_KEYS", raising=False)
    result = CliRunner().invoke(
        app, ["serve", "--host", "0.0.0.0", "--port", "9123", "--engine", "transformers"]
    )
    assert isinstance(result.exception, Handover)
    assert "binding to 127.0.0.1 only" in result.output
    assert execv == [[sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "9123"]]
    assert os.environ["RAGTUNE_ENGINE__KIND"] == "transformers"


def test_with_a_client_key_it_binds_where_asked(execv, monkeypatch, tmp_path):
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path))
    monkeypatch.setenv("RAGTUNE_SERVER__CLIENT_KEYS", '["k"]')
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "9124"])  # default: 127.0.0.1
    assert isinstance(result.exception, Handover)
    assert "127.0.0.1 only" not in result.output
    assert execv == [[sys.executable, "-m", "server", "--host", "0.0.0.0", "--port", "9124"]]


def test_a_port_in_use_is_refused_at_once_before_the_engine_starts(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {**os.environ, "RAGTUNE_HOME": str(tmp_path), "RAGTUNE_ENGINE__KIND": "transformers"}
        command = [sys.executable, "-m", "server", "--port", str(port)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "engine:" not in done.stdout + done.stderr  # nothing was loaded
