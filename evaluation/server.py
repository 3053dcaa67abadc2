"""Starts `ragtune serve` in a subprocess on a free local port for an evaluation, with the caller's settings."""

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from core.process import free_port, server_process
from core.settings import ServerSettings, Settings


def api_key(server: ServerSettings) -> str:
    """The key a client of a server with these settings sends: its first client key, else any."""
    return server.client_keys[0].key if server.client_keys else "none"


@contextmanager
def started_server(settings: Settings) -> Iterator[str]:
    """Yields the base URL (…/v1) of a fresh server; stops it afterwards. The whole settings object (the
    one place in evaluation that takes it) travels as a YAML file (RAGTUNE_CONFIG), so a server started from
    code sees exactly the caller's settings."""
    with tempfile.TemporaryDirectory(prefix="ragtune-eval-") as tmp:
        workdir, port = Path(tmp), free_port()
        config = settings.model_dump(mode="json")
        config["home"] = str(Path(settings.home).resolve())
        config["server"].update(host="127.0.0.1", port=port)
        (workdir / "ragtune.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAGTUNE_")}
        env["RAGTUNE_CONFIG"] = str(workdir / "ragtune.yaml")
        command = [sys.executable, "-c", "from ragtune.cli import main; main()", "serve"]
        url = f"http://127.0.0.1:{port}"
        timeout_s = settings.evaluation.server_start_timeout_s
        log = workdir / "server.log"
        with server_process(command, env, log, f"{url}/readyz", name="`ragtune serve`", timeout_s=timeout_s):
            yield f"{url}/v1"
