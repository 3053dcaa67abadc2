"""`ragtune models`: list and prepare the chat and embedding models (offline, from packages)."""

import typer
from rich.console import Console
from rich.table import Table

from core.chat_model import prepare_chat_model
from core.settings import Settings
from retrieval.embedding import resolve_embedding_model

models_app = typer.Typer(no_args_is_help=False, invoke_without_command=True)


@models_app.callback()
def models(ctx: typer.Context) -> None:
    """List the configured models and where they are loaded from, preparing them when needed."""
    if ctx.invoked_subcommand:
        return
    settings = Settings()
    console = Console()
    chat = prepare_chat_model(settings.chat_model, settings.models_dir, progress=console.print)
    embedder = resolve_embedding_model(settings.retrieval.embedding_model)
    table = Table("role", "model", "loaded from")
    table.add_row("chat", settings.chat_model, chat)
    table.add_row("embedding", settings.retrieval.embedding_model, embedder)
    console.print(table)
