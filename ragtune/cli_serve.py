"""`ragtune serve`: the OpenAI-compatible API, the admin API and the compare page."""

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.settings import Settings
from ragtune.cli_train import DEMO_ADAPTER
from ragtune.demo_adapter import DEMO_RECIPE, load_recipe, training_reason

LOCALHOST = "127.0.0.1"


def serve(
    host: str = typer.Option(None, help="Interface to bind (default: settings server.host)."),
    port: int = typer.Option(None, help="Port (default: settings server.port)."),
    engine: str = typer.Option(None, help="auto (vLLM when importable), vllm or transformers."),
    train_demo: Annotated[
        bool,
        typer.Option(
            help="Train the demo adapter in the background when it is missing or its recipe changed."
        ),
    ] = False,
    demo_recipe: Annotated[Path, typer.Option(help="The recipe --train-demo trains.")] = DEMO_RECIPE,
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
    command = [sys.executable, "-m", "server", "--host", bind, "--port", str(port)]
    if train_demo:
        command += _demo_training(settings, demo_recipe, console)
    console.print(f"ragtune: starting on http://{bind}:{port} (engine: {engine or settings.engine.kind}) ...")
    sys.stdout.flush()
    # A fresh interpreter whose main module imports nothing: vLLM's spawned processes re-import it.
    os.execv(sys.executable, command)


def _demo_training(settings: Settings, recipe_file: Path, console: Console) -> list[str]:
    """The server's arguments that train the demo adapter in the background (none when it is current)."""
    recipe = load_recipe(recipe_file)  # a broken recipe stops here, before anything loads
    reason = training_reason(settings.adapters_dir / DEMO_ADAPTER, recipe)
    if reason is None:
        console.print(f"demo adapter present in {settings.adapters_dir / DEMO_ADAPTER}")
        return []
    console.print(f"{reason}: the server trains it in the background and serves it when it is ready")
    train = [sys.executable, "-m", "ragtune", "adapters", "ensure-demo", "--recipe", str(recipe_file)]
    train += ["--retrain", "--progress-lines"]
    # The lowest CPU priority: the server's requests come first, training takes the idle time.
    nice = shutil.which("nice")
    command = [nice, "-n", "19", *train] if nice else train
    return ["--train-adapter", DEMO_ADAPTER, "--train-command", json.dumps(command)]
