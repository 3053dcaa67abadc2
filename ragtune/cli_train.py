"""`ragtune data check`, `ragtune train sft|dpo|kto|reward`, `ragtune adapters list|merge|ensure-demo`."""

import json
import random
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.adapters import list_adapters, read_adapter_info, write_adapter_info
from core.errors import RagtuneError
from core.settings import Settings
from ragtune.demo_adapter import (
    DEMO_RECIPE,
    RECIPE_COPY,
    Recipe,
    cap_declines,
    load_recipe,
    recipe_data,
    recipe_settings,
    training_reason,
)
from training.cleaning import CleaningReport
from training.data import Conversation
from training.output import TrainingFolders
from training.pipeline import PreparedData, prepare_data, prepare_faq
from training.raft import RaftRetriever

if TYPE_CHECKING:
    from training.sft import SftResult  # imported when training: it loads torch

train_app = typer.Typer(no_args_is_help=True)
data_app = typer.Typer(no_args_is_help=True)
adapters_app = typer.Typer(no_args_is_help=True)
console = Console()

DEMO_ADAPTER = "demo"

Entities = Annotated[
    Path | None, typer.Option(help="JSON file {kind: [names]} for entity substitution (augmentation)")
]
Templates = Annotated[
    Path | None, typer.Option(help="text file, one paraphrase template per line with {question}")
]
Overwrite = Annotated[bool, typer.Option(help="replace an existing adapter of that name")]
ProgressLinesFlag = Annotated[bool, typer.Option(help="print progress as 'step N/M' lines (for a log)")]


@data_app.command("check")
def data_check(file: Path, entities: Entities = None, templates: Templates = None) -> None:
    """Parse, clean, augment and split a training file; print the report without training."""
    prepared = _prepare(file, Settings(), entities, templates)
    print_report(prepared)


@train_app.command("sft")
def train_sft_command(
    data: Annotated[Path, typer.Option(help="training file: .jsonl, .json, .csv or Q/A .txt")],
    name: Annotated[str, typer.Option(help="adapter name (RAGTUNE_HOME/adapters/NAME)")],
    base: Annotated[str | None, typer.Option(help="base model: embedded id, local folder or hub id")] = None,
    epochs: float | None = None,
    max_steps: int | None = None,
    learning_rate: float | None = None,
    rank: int | None = None,
    max_seq_len: int | None = None,
    raft: Annotated[
        bool, typer.Option(help="retrieval-aware: sources from the knowledge base in each prompt")
    ] = False,
    collection: Annotated[str | None, typer.Option(help="knowledge-base collection for --raft")] = None,
    per_style: Annotated[
        bool, typer.Option(help="one adapter NAME-STYLE per style label instead of style tags")
    ] = False,
    resume: Annotated[bool, typer.Option(help="continue the last checkpoint of this run")] = False,
    overwrite: Overwrite = False,
    entities: Entities = None,
    templates: Templates = None,
) -> None:
    """Train a LoRA adapter with supervised fine-tuning."""
    settings = _with_overrides(
        Settings(),
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        lora_r=rank,
        max_seq_len=max_seq_len,
    )
    prepared = _prepare(data, settings, entities, templates)
    print_report(prepared)
    retriever = _kb_retriever(settings, collection) if raft else None
    train = partial(
        _train, settings=settings, base=base, retriever=retriever, resume=resume, overwrite=overwrite
    )
    if not per_style:
        train(prepared.train, prepared.val, name=name)
        return
    styles = sorted({s.style for s in prepared.train if s.style})
    if not styles:
        raise RagtuneError(f"{data}: --per-style needs samples with a 'style' label")
    for style in styles:  # the server serves a request for this style with this adapter, with no tag
        pick = [replace(s, style=None) for s in prepared.train if s.style == style]
        pick_val = [replace(s, style=None) for s in prepared.val if s.style == style]
        result = train(pick, pick_val, name=f"{name}-{style}")
        write_adapter_info(
            result.output_dir,
            read_adapter_info(result.output_dir).model_copy(update={"styles": [], "style": style}),
        )


@train_app.command("dpo")
def train_dpo_command(
    data: Annotated[Path, typer.Option(help="preference pairs: prompt or messages, chosen, rejected")],
    from_adapter: Annotated[str, typer.Option("--from", help="the SFT adapter to start from")],
    name: Annotated[str, typer.Option(help="name of the new adapter")],
    max_steps: int | None = None,
    overwrite: Overwrite = False,
) -> None:
    """Preference tuning (DPO) of an SFT adapter."""
    from training.data import load_preferences
    from training.dpo import train_dpo

    settings = _with_overrides(Settings(), max_steps=max_steps)
    pairs = load_preferences(data)
    console.print(f"{len(pairs)} preference pairs from {data}")
    info = train_dpo(
        pairs,
        training=settings.training,
        folders=_folders(settings),
        from_adapter=from_adapter,
        name=name,
        system_prompt=settings.server.system_prompt,
        overwrite=overwrite,
    )
    console.print(f"[green]adapter '{info.name}' written[/green] to {settings.adapters_dir / name}")


@train_app.command("kto")
def train_kto_command(
    data: Annotated[
        Path,
        typer.Option(help="rated answers: prompt or messages, completion, label (true/false); kto.jsonl"),
    ],
    name: Annotated[str, typer.Option(help="name of the new adapter")],
    from_adapter: Annotated[
        str | None, typer.Option("--from", help="the adapter to start from (default: a new one on the base)")
    ] = None,
    base: Annotated[str | None, typer.Option(help="base model without --from (default: chat_model)")] = None,
    max_steps: int | None = None,
    learning_rate: Annotated[float | None, typer.Option(help="default: training.dpo_learning_rate")] = None,
    max_seq_len: Annotated[
        int | None, typer.Option(help="default: the starting adapter's, else training.max_seq_len")
    ] = None,
    progress_lines: ProgressLinesFlag = False,
    overwrite: Overwrite = False,
) -> None:
    """Tune an adapter on answers rated good or bad (KTO): thumbs need no pairs."""
    from training.data import load_kto
    from training.kto import train_kto
    from training.progress import progress_arguments

    settings = Settings()
    if max_seq_len is None and from_adapter:  # the prompts it was trained on, sources and all, fit again
        max_seq_len = read_adapter_info(settings.adapters_dir / from_adapter).settings.get("max_seq_len")
    settings = _with_overrides(settings, max_steps=max_steps, max_seq_len=max_seq_len)
    examples = load_kto(data)
    good = sum(e.label for e in examples)
    console.print(f"{len(examples)} rated answers from {data}: {good} good, {len(examples) - good} bad")
    info = train_kto(
        examples,
        training=settings.training,
        folders=_folders(settings),
        name=name,
        from_adapter=from_adapter,
        base_model=base or settings.chat_model,
        system_prompt=settings.server.system_prompt,
        learning_rate=learning_rate,
        overwrite=overwrite,
        **progress_arguments(progress_lines),
    )
    console.print(
        f"[green]adapter '{info.name}' written[/green] to {settings.adapters_dir / name}; "
        f"train loss {_number(info.train_loss)}"
    )


@train_app.command("reward")
def train_reward_command(
    data: Annotated[
        Path,
        typer.Option(
            help="preference pairs (prompt or messages, chosen, rejected) or rated answers (kto.jsonl)"
        ),
    ],
    name: Annotated[str, typer.Option(help="name of the reward model")],
    base: Annotated[str | None, typer.Option(help="base model (default: chat_model)")] = None,
    epochs: float | None = None,
    max_steps: int | None = None,
    learning_rate: float | None = None,
    max_seq_len: int | None = None,
    progress_lines: ProgressLinesFlag = False,
    overwrite: Overwrite = False,
) -> None:
    """Train a reward model (the base with a LoRA adapter and a score head) that scores answers; listed with
    the adapters as method 'reward', never served as a chat model."""
    from training.progress import progress_arguments
    from training.reward_model import load_reward_pairs, train_reward

    settings = _with_overrides(
        Settings(), epochs=epochs, max_steps=max_steps, learning_rate=learning_rate, max_seq_len=max_seq_len
    )
    pairs, unpaired = load_reward_pairs(data)
    console.print(f"{len(pairs)} preference pairs from {data}")
    if unpaired:
        console.print(f"{unpaired} rated answers left out: no answer of the other rating to the same prompt")
    info = train_reward(
        pairs,
        training=settings.training,
        folders=_folders(settings),
        name=name,
        base_model=base or settings.chat_model,
        system_prompt=settings.server.system_prompt,
        overwrite=overwrite,
        **progress_arguments(progress_lines),
    )
    console.print(
        f"[green]reward model '{info.name}' written[/green] to {settings.adapters_dir / name}; "
        f"train loss {_number(info.train_loss)}"
    )


@adapters_app.command("list")
def adapters_list() -> None:
    """The trained adapters and what they were trained on (method 'reward': a reward model, not served)."""
    settings = Settings()
    table = Table("name", "method", "base model", "rank", "styles", "val loss", "perplexity", "created")
    for info in list_adapters(settings.adapters_dir):
        table.add_row(
            info.name,
            info.method,
            info.base_model,
            str(info.rank),
            ",".join(info.styles),
            _number(info.validation_loss),
            _number(info.perplexity),
            info.created,
        )
    console.print(table if table.row_count else f"no adapters in {settings.adapters_dir}")


@adapters_app.command("merge")
def adapters_merge(name: str, out: Path) -> None:
    """Merge adapter NAME into its base model and write a model folder to OUT."""
    from training.merge import merge_adapter

    settings = Settings()
    merge_adapter(settings.adapters_dir / name, out, settings.models_dir)
    console.print(f"[green]merged model written[/green] to {out}")


@adapters_app.command("ensure-demo")
def ensure_demo(
    recipe_file: Annotated[Path, typer.Option("--recipe", help="the demo's recipe")] = DEMO_RECIPE,
    retrain: Annotated[bool, typer.Option(help="train again even when the adapter is current")] = False,
    progress_lines: Annotated[
        bool, typer.Option(help="print progress as 'step N/M' lines (for a log; the server reads them)")
    ] = False,
) -> None:
    """Train the demo adapter from its recipe when it is missing or was trained on another recipe or prompt
    format (`make serve` trains it in the background meanwhile, `make eval` first)."""
    settings = Settings()
    recipe = load_recipe(recipe_file)
    folder = settings.adapters_dir / DEMO_ADAPTER
    if not retrain:
        reason = training_reason(folder, recipe)
        if reason is None:
            console.print(f"demo adapter present in {folder}")
            return
        console.print(f"{reason}: training it")
    train_recipe(recipe, settings, DEMO_ADAPTER, progress_lines=progress_lines)


def train_recipe(recipe: Recipe, settings: Settings, name: str, progress_lines: bool = False, **overrides):
    """Train adapter `name` as the recipe says (`overrides`: training settings the sweep varies)."""
    settings = recipe_settings(recipe, settings, **overrides)
    prepared = recipe_data(recipe, settings)
    train = prepared.train
    if recipe.max_samples and recipe.max_samples < len(train):  # a seeded pick across the whole split
        picked = random.Random(settings.training.seed).sample(range(len(train)), recipe.max_samples)
        train = [train[i] for i in sorted(picked)]
    if recipe.max_decline_share is not None:
        declines = {text.strip() for text in settings.training.raft_decline_answers.values()}
        train = cap_declines(train, declines, recipe.max_decline_share, settings.training.seed)
    faq = prepare_faq(recipe.faq, pii=settings.pii)
    data = f"{recipe.data} and {len(faq)} FAQ pairs" if faq else str(recipe.data)
    console.print(
        f"training '{name}' retrieval-aware on {len(train) + len(faq)} samples of {data} "
        f"(validation {len(prepared.val)}), collection '{recipe.collection}' ..."
    )
    train = train + faq
    retriever = _kb_retriever(settings, recipe.collection)
    result = _train(
        train,
        prepared.val,
        settings=settings,
        name=name,
        retriever=retriever,
        overwrite=True,
        progress_lines=progress_lines,
    )
    (result.output_dir / RECIPE_COPY).write_text(recipe.text, encoding="utf-8")
    return result


def print_report(prepared: PreparedData) -> None:
    report: CleaningReport = prepared.report
    table = Table("", "samples", title="training data")
    table.add_row("read", str(report.before))
    for label, counter in (
        ("removed", report.removed),
        ("cleaned", report.modified),
        ("masked", report.masked),
    ):
        for reason, count in sorted(counter.items()):
            if count:
                table.add_row(f"{label}: {reason}", str(count))
    table.add_row("kept", str(report.after))
    table.add_row("augmented (added)", str(prepared.augmented))
    table.add_row("train / validation", f"{len(prepared.train)} / {len(prepared.val)}")
    for intent, count in sorted(report.intents.items()):
        table.add_row(f"intent: {intent}", str(count))
    console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _prepare(data: Path, settings: Settings, entities: Path | None, templates: Path | None) -> PreparedData:
    entity_lists = _read_json(entities) if entities else None
    template_lines = (
        [t for t in templates.read_text(encoding="utf-8").splitlines() if t.strip()] if templates else None
    )
    return prepare_data(data, settings.training, entity_lists, template_lines, pii=settings.pii)


def _train(
    train: list[Conversation],
    val: list[Conversation],
    *,
    settings: Settings,
    name: str,
    base: str | None = None,
    retriever: RaftRetriever | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress_lines: bool = False,
) -> "SftResult":
    """Train adapter `name` with train_sft and print what came of it (progress_lines: progress as plain
    lines, for a log, instead of progress bars)."""
    from training.progress import progress_arguments
    from training.sft import train_sft

    result = train_sft(
        train,
        val,
        training=settings.training,
        folders=_folders(settings),
        name=name,
        base_model=base or settings.chat_model,
        system_prompt=settings.server.system_prompt,
        retriever=retriever,
        resume=resume,
        overwrite=overwrite,
        **progress_arguments(progress_lines),
    )
    info = result.info
    summary = (
        f"train loss {_number(info.train_loss)}, val loss {_number(info.validation_loss)}" if info else ""
    )
    console.print(
        f"[green]'{name}' written[/green] to {result.output_dir} after {result.global_step} steps; {summary}"
    )
    if retriever:
        _report_raft(result.raft_counts)
    if result.skipped_too_long:
        console.print(
            f"[yellow]{result.skipped_too_long} samples longer than max_seq_len were left out[/yellow]"
        )
    return result


def _folders(settings: Settings) -> TrainingFolders:
    return TrainingFolders(
        models=settings.models_dir, adapters=settings.adapters_dir, checkpoints=settings.home / "checkpoints"
    )


def _report_raft(counts) -> None:
    console.print(
        f"retrieval-aware training samples: {counts['with_gold']} with their gold source among distractors, "
        f"{counts['declined']} taught to decline (gold source left out), "
        f"{counts['no_gold']} with no gold source retrieved (trained on what retrieval found)"
    )
    if counts["no_gold"] > counts["with_gold"] + counts["declined"]:
        console.print(
            "[yellow]most samples' gold sources were not retrieved: check their gold_sources against "
            "`ragtune kb list` and that the knowledge base holds those documents[/yellow]"
        )


def _kb_retriever(settings: Settings, collection: str | None) -> RaftRetriever:
    """Retrieval from the knowledge base as the server retrieves, for retrieval-aware (RAFT) training."""
    from ragtune.cli_kb import open_kb

    return RaftRetriever(kb=open_kb(), collection=collection, retrieval=settings.retrieval)


def _with_overrides(settings: Settings, **values) -> Settings:
    given = {key: value for key, value in values.items() if value is not None}
    return settings.model_copy(update={"training": settings.training.model_copy(update=given)})


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RagtuneError(f"{path}: cannot read entity lists: {err}") from err


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
