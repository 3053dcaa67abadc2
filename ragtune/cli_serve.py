"""`ragtune serve`: the OpenAI-compatible API, the admin API and the compare page."""

import os
import sys

import typer
from rich.console import Console

from core.settings import Settings

LOCALHOST = "127.0.0.1"


def serve(
    host: str = typer.Option(None, help="Interface to bind (default: settings server.host)."),
    port: int = typer.Option(None, help="Port (default: settings server.port)."),
    engine: str = typer.Option(None, help="auto (vLLM when importable), vllm or transformers."),
) -> None:
    settings = Settings()
    console = Console(highlight=False, soft_wrap=True)
    bind = host or settings.server.host
    if not settings.server.client_keys and bind != LOCALHOST:
        console.print(
            f"no client key configured (RAGTUNE_SERVER__CLIENT_KEYS): binding to {LOCALHOST} only, not {bind}"
        )
        bind = LOCALHOST
    port = port or settings.server.port
    if engine:
        os.environ["RAGTUNE_ENGINE__KIND"] = engine
    console.print(f"ragtune: starting on http://{bind}:{port} (engine: {engine or settings.engine.kind}) ...")
    sys.stdout.flush()
    # A fresh interpreter whose main module imports nothing: vLLM's spawned processes re-import it.
    os.execv(sys.executable, [sys.executable, "-m", "server", "--host", bind, "--port", str(port)])
