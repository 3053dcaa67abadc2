"""`ragtune ...`: assembles the packages' commands. Each sub-app lives in its own cli_*.py module."""

import sys

import typer
from pydantic import ValidationError
from rich.console import Console

from core.errors import RagtuneError
from ragtune.cli_answers import answers_app, review_command
from ragtune.cli_eval import eval_app
from ragtune.cli_kb import kb_app
from ragtune.cli_loop import ab_app, data_export
from ragtune.cli_models import models_app
from ragtune.cli_rails import rails_app
from ragtune.cli_rl import train_rl_command
from ragtune.cli_serve import serve
from ragtune.cli_settings import error_message, settings_command
from ragtune.cli_train import adapters_app, data_app, train_app

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="ragtune: a knowledge base, LoRA adapters and an OpenAI-compatible server for a domain assistant.",
)
app.add_typer(kb_app, name="kb", help="The knowledge base: add, remove, sync, search, versions.")
app.add_typer(answers_app, name="answers", help="Curated answers: import, add, list, remove, export.")
app.add_typer(models_app, name="models", help="The embedded chat and embedding models.")
app.add_typer(data_app, name="data", help="Check training data; export user feedback as training data.")
app.add_typer(train_app, name="train", help="Train LoRA adapters (SFT, DPO, KTO, RL) and reward models.")
app.add_typer(adapters_app, name="adapters", help="List and merge adapters.")
app.add_typer(eval_app, name="eval", help="Compare base, RAG and tuned answers.")
app.add_typer(ab_app, name="ab", help="A/B experiments between variants of a served model.")
app.add_typer(rails_app, name="rails", help="The trust rails: calibrate the grounding gate.")
data_app.command("export")(data_export)
train_app.command("rl")(train_rl_command)
app.command(help="Serve the OpenAI-compatible API, the admin API and the compare page.")(serve)
app.command("review", help="The review queue: questions that went wrong, grouped, most frequent first.")(
    review_command
)
app.command("settings", help="Print the effective settings and where each came from; write their reference.")(
    settings_command
)


def main() -> None:
    """Entry point: a user-caused error prints its message (what and where), not a traceback."""
    try:
        app()
    except RagtuneError as err:
        Console(stderr=True).print(f"[red]error:[/red] {err}", highlight=False)
        sys.exit(1)
    except ValidationError as err:  # a bad setting (env, ragtune.yaml) found by any command's Settings()
        if err.title != "Settings":
            raise
        Console(stderr=True).print(f"[red]error:[/red] {error_message(err)}", highlight=False)
        sys.exit(1)
