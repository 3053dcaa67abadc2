"""`ragtune models`: list and prepare the chat and embedding models (offline, from packages); `ragtune models
quantize` makes a quantised copy of the chat model."""

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.chat_model import model_fingerprint, prepare_chat_model
from core.errors import RagtuneError
from core.quantization import SCHEMES, quantize_model, quantized_copies
from core.settings import Settings
from knowledge.loaders import LOADERS, load
from retrieval.embedding import resolve_embedding_model

models_app = typer.Typer(no_args_is_help=False, invoke_without_command=True)
COPY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
CALIBRATION_CHARS = 2000  # of each file: the model reads its first few hundred tokens


@models_app.callback()
def models(ctx: typer.Context) -> None:
    """List the configured models, the quantised copies and where they are loaded from, preparing them when
    needed."""
    if ctx.invoked_subcommand:
        return
    settings = Settings()
    console = Console()
    chat = prepare_chat_model(settings.chat_model, settings.models_dir, progress=console.print)
    embedder = resolve_embedding_model(settings.retrieval.embedding_model)
    table = Table("role", "model", "loaded from")
    table.add_row("chat", settings.chat_model, chat)
    table.add_row("embedding", settings.retrieval.embedding_model, embedder)
    for name, info in quantized_copies(settings.models_dir):
        table.add_row(f"quantised ({info['scheme']})", name, str((settings.models_dir / name).resolve()))
    console.print(table)


@models_app.command("quantize")
def quantize(
    scheme: Annotated[str, typer.Option(help=f"One of: {', '.join(SCHEMES)}.")] = "w8a8",
    model: Annotated[str | None, typer.Option(help="The model to quantise; default: the chat model.")] = None,
    name: Annotated[
        str | None, typer.Option(help="The copy's folder in the models folder; default: MODEL-SCHEME.")
    ] = None,
    calibration: Annotated[
        Path,
        typer.Option(help="Documents whose text measures the loss before and after (the knowledge base's)."),
    ] = Path("examples/knowledge"),
) -> None:
    """Write a quantised copy of the chat model that vLLM serves (set chat_model to the copy's name);
    adapters of the original apply to it."""
    settings = Settings()
    console = Console()
    source = model or settings.chat_model
    source_path = prepare_chat_model(source, settings.models_dir, progress=console.print)
    if not Path(source_path, "config.json").is_file():
        raise RagtuneError(f"--model {source!r}: no model folder with a config.json found")
    copy = name or f"{Path(source_path).name}-{scheme}"
    if not COPY_NAME.fullmatch(copy):
        raise RagtuneError(
            f"--name {copy!r}: use letters, digits, '.', '_' or '-' (a folder in the models folder)"
        )
    texts = calibration_texts(calibration)
    info = quantize_model(
        source_path,
        settings.models_dir / copy,
        scheme,
        model_fingerprint(source_path),
        texts,
        progress=console.print,
    )
    console.print(
        f"wrote {settings.models_dir / copy}: serve it with RAGTUNE_CHAT_MODEL={copy} "
        f"(token loss on the calibration texts {info['loss_before']} -> {info['loss_after']})"
    )


def calibration_texts(folder: Path) -> list[str]:
    """The start of each readable document in `folder` (any language the knowledge base holds)."""
    if not folder.is_dir():
        raise RagtuneError(f"--calibration {folder}: not a folder of documents")
    texts = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in LOADERS):
        loaded = load(path.name, path.read_bytes())
        text = loaded.text or "\n".join(f"{q}\n{a}" for q, a in loaded.pairs)
        texts.append(text[:CALIBRATION_CHARS])
    if not texts:
        raise RagtuneError(f"--calibration {folder}: no document of a supported type ({', '.join(LOADERS)})")
    return texts
