"""`ragtune settings`: the effective settings, one line per field with where its value came from (secrets
masked); `--markdown PATH` writes the settings reference (docs/settings.md) from the fields' descriptions,
types, ranges and defaults.

    $ RAGTUNE_RETRIEVAL__TOP_K=8 ragtune settings
    retrieval.top_k   8   env RAGTUNE_RETRIEVAL__TOP_K
"""

import json
import os
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import typer
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python
from pydantic_settings import EnvSettingsSource, YamlConfigSettingsSource

from core.errors import RagtuneError
from core.settings import MOVED, Settings, config_file, env_name

MASK = "***"
# Fields holding secrets, by name: client/admin keys, API keys, tokens, webhook secrets, passwords.
_SECRET_NAME = re.compile(r"(_keys?|_token|secret|password)$")
# Credentials inside any text value: postgresql://user:PASSWORD@host, or a DSN's password=...
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
_DSN_PASSWORD = re.compile(r"(password=)\S+", re.IGNORECASE)


# -- walking the fields --------------------------------------------------------------------------------
def _model_class(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def leaves(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """(dotted name, field) of every setting, sections walked into (rails.grounding.signal)."""
    for name, info in model.model_fields.items():
        section = _model_class(info.annotation)
        if section is not None:
            yield from leaves(section, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info


def _value(settings: BaseModel, dotted: str) -> Any:
    value = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _found(values: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(values, dict):
            return True  # a whole section given at once (JSON in one variable)
        if part not in values:
            return False
        values = values[part]
    return True


def _env_variable(dotted: str) -> str:
    """The variable that set `dotted`: its own, or a section's holding JSON (RAGTUNE_SERVER='{"port": 1}')."""
    present = {key.upper() for key in os.environ}
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        name = env_name(".".join(parts[:end]))
        if name in present:
            return name
    return env_name(dotted)


def sources(init: dict | None = None) -> dict[str, str]:
    """Where each setting's value comes from, in the order Settings reads them: init (arguments in code),
    env RAGTUNE_X__Y, file ragtune.yaml (or RAGTUNE_CONFIG's), else default."""
    env = EnvSettingsSource(Settings)()
    path = config_file()
    file = YamlConfigSettingsSource(Settings, yaml_file=path)() if path.is_file() else {}
    where = {}
    for dotted, _ in leaves(Settings):
        if _found(init or {}, dotted):
            where[dotted] = "init"
        elif _found(env, dotted):
            where[dotted] = f"env {_env_variable(dotted)}"
        elif _found(file, dotted):
            where[dotted] = f"file {path}"
        else:
            where[dotted] = "default"
    return where


# -- showing values ------------------------------------------------------------------------------------
def _mask_text(text: str) -> str:
    return _DSN_PASSWORD.sub(rf"\g<1>{MASK}", _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text))


def masked(dotted: str, value: Any, default: Any = None) -> Any:
    """`value` safe to print: secret fields as ***, one per list item (a default is no secret), passwords
    inside URLs masked wherever they appear."""
    if isinstance(value, SecretStr):
        return MASK
    if _SECRET_NAME.search(dotted.rsplit(".", 1)[-1]) and value and value != default:
        return [MASK for _ in value] if isinstance(value, list) else MASK
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, list):
        return [_mask_text(v) if isinstance(v, str) else v for v in value]
    return value


def _show(value: Any) -> str:
    return json.dumps(to_jsonable_python(value, exclude_none=True), ensure_ascii=False)


def effective_lines(settings: Settings, init: dict | None = None) -> list[str]:
    """One line per setting: dotted name, value (secrets masked), source."""
    where = sources(init)
    rows = [
        (dotted, _show(masked(dotted, _value(settings, dotted), info.default)), where[dotted])
        for dotted, info in leaves(Settings)
    ]
    name_width = max(len(row[0]) for row in rows)
    value_width = min(max(len(row[1]) for row in rows), 48)
    return [f"{name:<{name_width}}  {value:<{value_width}}  {source}" for name, value, source in rows]


def error_message(err: ValidationError) -> str:
    """A settings error as one line per bad value: the setting, its variable, what is wrong, the value."""
    lines = []
    for error in err.errors():
        dotted = ".".join(str(part) for part in error["loc"])
        if not dotted:  # the whole object's check (a renamed setting)
            lines.append(error["msg"].removeprefix("Value error, "))
            continue
        given = error.get("input")
        shown = "" if isinstance(given, dict) else f", got {given!r}"
        lines.append(f"{dotted} ({env_name(dotted)} or {config_file()}): {error['msg']}{shown}")
    return "invalid settings: " + "; ".join(lines)


# -- the reference page --------------------------------------------------------------------------------
def _literals(annotation: Any) -> list[str]:
    if get_origin(annotation) is Literal:
        return [str(choice) for choice in get_args(annotation)]
    return [choice for arg in get_args(annotation) for choice in _literals(arg)]


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return type(args[0]).__name__
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(arg) for arg in args)}]"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _constraints(metadata: list) -> list[str]:
    parts = []
    for item in metadata:
        for bound, sign in _BOUNDS.items():
            if isinstance(item, annotated_types.BaseMetadata) and hasattr(item, bound):
                parts.append(f"{sign} {getattr(item, bound)}")
        if isinstance(item, annotated_types.MinLen):
            parts.append("not empty")
        if getattr(item, "pattern", None):
            parts.append(f"matches `{item.pattern}`")
    return parts


def _allowed(info: FieldInfo) -> str:
    parts = []
    choices = _literals(info.annotation)
    if choices:
        keyed = get_origin(info.annotation) is dict and _literals(get_args(info.annotation)[0])
        parts.append(("keys: " if keyed else "one of ") + ", ".join(choices))
    parts += _constraints(info.metadata)
    for arg in get_args(info.annotation):  # list items' and dict values' own ranges
        if get_origin(arg) is Annotated:
            inner = [m for a in get_args(arg)[1:] for m in (a.metadata if isinstance(a, FieldInfo) else [a])]
            parts += [f"each {part}" for part in _constraints(inner)]
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined or info.default is None:
        return "unset"
    return f"`{_show(info.default)}`"


_DOCS_LINK = re.compile(r"docs/([\w/.-]+\.md)")


def _cell(text: str) -> str:
    """A table cell; mentions of docs/ pages become links relative to docs/settings.md."""
    text = text.replace("|", "\\|").replace("\n", " ")
    return _DOCS_LINK.sub(lambda m: f"[{m.group(0)}]({m.group(1)})", text)


def _sections() -> Iterator[tuple[str, type[BaseModel]]]:
    """(dotted prefix, class) of every section, parents first: sections, nested ones, dict values."""
    pending = [("", Settings)]
    while pending:
        prefix, model = pending.pop(0)
        yield prefix, model
        nested = []
        for name, info in model.model_fields.items():
            section = _model_class(info.annotation)
            args = get_args(info.annotation)
            if section is not None:
                nested.append((f"{prefix}{name}", section))
            elif get_origin(info.annotation) is dict and _model_class(args[1]):
                nested.append((f"{prefix}{name}.<name>", args[1]))
        pending[:0] = [(f"{p}.", m) for p, m in nested]


def markdown() -> str:
    """docs/settings.md: how settings are given, what was renamed, and a table per section."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated by `ragtune settings --markdown docs/settings.md` from core/settings.py: edit",
        "the descriptions there, not this file (tests/ragtune/test_cli_settings.py checks it). -->",
        "",
        "Each setting is read from the first of these that has it:",
        "",
        "1. arguments in code (`Settings(retrieval=RetrievalSettings(top_k=8))`);",
        "2. the environment: `RAGTUNE_` and the dotted name in capitals, `__` between the parts",
        "   (`RAGTUNE_RETRIEVAL__TOP_K=8`; lists and dictionaries as JSON);",
        "3. the YAML file `ragtune.yaml` in the working directory, or the file `RAGTUNE_CONFIG` names,",
        "   nested like the dotted names (`retrieval:` / `  top_k: 8`);",
        "4. the default below.",
        "",
        "A value outside what is allowed stops the command with the setting's name and variable.",
        "`ragtune settings` prints the effective values and where each came from, secrets masked.",
        "",
        "## Renamed settings",
        "",
        "A value under an old name is refused with the new name.",
        "",
        "| Old | New |",
        "| --- | --- |",
        *[f"| `{old}` | `{new}` |" for old, new in MOVED.items()],
    ]
    for prefix, model in _sections():
        section = prefix.rstrip(".")
        fields = {n: i for n, i in model.model_fields.items() if _model_class(i.annotation) is None}
        if not fields:
            continue
        title = f"`{section}` ({model.__name__})" if section else "General"
        lines += ["", f"## {title}", ""]
        if model.__doc__ and model is not Settings:
            lines += [_cell(" ".join(model.__doc__.split())), ""]
        lines += ["| Setting | Type | Default | Allowed | Description |", "| --- | --- | --- | --- | --- |"]
        for name, info in fields.items():
            cells = [f"`{prefix}{name}`", f"`{_type_name(info.annotation)}`", _default(info), _allowed(info)]
            lines.append("| " + " | ".join(_cell(c) for c in [*cells, info.description or ""]) + " |")
    return "\n".join(lines) + "\n"


# -- the command ---------------------------------------------------------------------------------------
def settings_command(
    markdown_path: Annotated[
        Path | None, typer.Option("--markdown", help="Write the settings reference (Markdown) to this file.")
    ] = None,
) -> None:
    """Print the effective settings, one line each: name, value (secrets masked), and where it came from
    (default, env RAGTUNE_..., file ragtune.yaml, init)."""
    if markdown_path is not None:
        markdown_path.write_text(markdown(), encoding="utf-8")
        typer.echo(f"settings reference written to {markdown_path}")
        return
    try:
        settings = Settings()
    except ValidationError as err:
        raise RagtuneError(error_message(err)) from err
    for line in effective_lines(settings):
        typer.echo(line)
