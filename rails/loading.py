"""Rules from a YAML or JSON file (see examples/rails/rules.yaml): `input:` and `output:` lists of rules.

    - name: insults          # unique within its list
      action: mask           # block | mask | flag
      words: insults.txt     # word-list file(s), relative to the rules file; and/or
      terms: [idiot, 笨蛋]   # inline terms; and/or
      pii: [phone, email]    # built-in personal data: phone, id_card, bank_card, email (or "all"); and/or
      regex: 'NW-\\d{8}'      # (`regex` module syntax, as re's) with max_chars (longest match, default 32), ignore_case
      mask: "[ORDER]"        # optional; keep: [...] values never matched (personal data)

Any mistake raises a RagtuneError naming the file and line."""

from pathlib import Path
from typing import Any

import regex
import yaml

from core.errors import RagtuneError
from core.pii import PII_KINDS, to_end
from rails.rules import ACTIONS, DEFAULT_REGEX_MAX_CHARS, Rule
from rails.words import load_word_list

SIDES = ("input", "output")
_KEYS = {"name", "action", "words", "terms", "pii", "regex", "max_chars", "ignore_case", "mask", "keep"}
_LINE = "__line__"


class _LineLoader(yaml.SafeLoader):
    """Safe YAML (JSON included) whose mappings remember their line."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep)
        mapping[_LINE] = node.start_mark.line + 1
        return mapping


def load_rules_file(path: Path, keep: tuple[str, ...] = ()) -> dict[str, list[Rule]]:
    """{"input": [...], "output": [...]}; `keep` joins every personal-data rule's own list."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except OSError as error:
        raise RagtuneError(f"{path}: cannot read the rules file ({error.strerror})") from None
    except UnicodeDecodeError:
        raise RagtuneError(f"{path}: not UTF-8") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise RagtuneError(f"{where}: not valid YAML/JSON ({getattr(error, 'problem', error)})") from None
    data = data if data is not None else {}
    if not isinstance(data, dict) or set(data) - {*SIDES, _LINE}:
        raise RagtuneError(f"{path}:1: expected a mapping with `input:` and/or `output:` rule lists")
    return {side: _rules(data.get(side) or [], path, side, keep) for side in SIDES}


def _rules(items: Any, path: Path, side: str, keep: tuple[str, ...]) -> list[Rule]:
    if not isinstance(items, list):
        raise RagtuneError(f"{path}: `{side}` must be a list of rules")
    rules: list[Rule] = []
    for item in items:
        if not isinstance(item, dict):
            raise RagtuneError(f"{path}: `{side}` has an entry that is not a rule (a mapping): {item!r}")
        where = f"{path}:{item.get(_LINE, '?')}"
        rule = _rule(item, path.parent, where, keep)
        if any(r.name == rule.name for r in rules):
            raise RagtuneError(f"{where}: a second {side} rule named {rule.name!r}")
        rules.append(rule)
    return rules


def _rule(item: dict, folder: Path, where: str, keep: tuple[str, ...]) -> Rule:
    item = {k: v for k, v in item.items() if k != _LINE}
    if unknown := set(item) - _KEYS:
        raise RagtuneError(f"{where}: unknown key {min(unknown)!r} (use {', '.join(sorted(_KEYS))})")
    name, action = item.get("name"), item.get("action")
    if not isinstance(name, str) or not name:
        raise RagtuneError(f"{where}: a rule needs a `name`")
    if action not in ACTIONS:
        raise RagtuneError(f"{where}: rule {name!r}: `action` must be one of {', '.join(ACTIONS)}")
    words = [*_strings(item, "terms", where)]
    for file in _strings(item, "words", where):
        words += _word_list(folder / file, where)
    pii = _pii_kinds(item, where)
    pattern = _pattern(item, where)
    if not (words or pii or pattern):
        raise RagtuneError(f"{where}: rule {name!r} needs `words`, `terms`, `pii` or `regex`")
    max_chars = item.get("max_chars", DEFAULT_REGEX_MAX_CHARS)
    if not isinstance(max_chars, int) or max_chars < 1:
        raise RagtuneError(f"{where}: `max_chars` must be a positive whole number")
    mask = item.get("mask")
    if mask is not None and not isinstance(mask, str):
        raise RagtuneError(f"{where}: `mask` must be text")
    own_keep = frozenset(_strings(item, "keep", where)) | frozenset(keep)
    return Rule(
        name=name,
        action=action,
        words=tuple(words),
        pii=pii,
        pattern=pattern,
        max_chars=max_chars,
        mask=mask,
        keep=own_keep,
    )


def _word_list(path: Path, where: str) -> list[str]:
    try:
        return load_word_list(path)
    except RagtuneError as error:
        raise RagtuneError(f"{error} (listed at {where})") from None


def _strings(item: dict, key: str, where: str) -> list[str]:
    value = item.get(key, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RagtuneError(f"{where}: `{key}` must be text or a list of texts")
    return value


def _pii_kinds(item: dict, where: str) -> tuple[str, ...]:
    kinds = _strings(item, "pii", where)
    if kinds == ["all"]:
        return PII_KINDS
    if unknown := [k for k in kinds if k not in PII_KINDS]:
        raise RagtuneError(
            f"{where}: unknown personal-data kind {unknown[0]!r} (use {', '.join(PII_KINDS)}, all)"
        )
    return tuple(kinds)


def _pattern(item: dict, where: str) -> regex.Pattern | None:
    source = item.get("regex")
    if source is None:
        return None
    if not isinstance(source, str):
        raise RagtuneError(f"{where}: `regex` must be text")
    try:
        pattern = regex.compile(source, regex.IGNORECASE if item.get("ignore_case") else 0)
        to_end(pattern)  # what a stream checks for a match more text could still complete
        return pattern
    except regex.error as error:
        raise RagtuneError(f"{where}: bad regex {source!r} ({error})") from None


def word_list_files(path: Path) -> list[Path]:
    """The word-list files a rules file names (what an editor changes, and what a reload reads again)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []  # load_rules_file reports the problem with file and line
    files = []
    for side in SIDES:
        for item in data.get(side) or [] if isinstance(data, dict) else []:
            words = item.get("words") if isinstance(item, dict) else None
            files += [Path(path).parent / w for w in ([words] if isinstance(words, str) else words or [])]
    return list(dict.fromkeys(files))
