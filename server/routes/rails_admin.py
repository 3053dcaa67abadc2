"""Admin routes of the trust rails: the rules in force, an editor's word-list change, a reload. A change
applies to the next request, without a restart; a bad list is refused and the old one kept."""

import asyncio
import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from core.errors import NotFoundError
from rails import Rails
from server.auth import admin_key

router = APIRouter(prefix="/admin/rails", dependencies=[Depends(admin_key)])


class WordList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    words: list[str] = Field(max_length=100_000)


def _rails(request: Request) -> Rails:
    return request.app.state.rails


def _summary(rails: Rails) -> dict:
    def rules(rule_set) -> list[dict]:
        return [{"name": r.name, "action": r.action, "terms": len(r.words)} for r in rule_set.rules]

    return {
        "input": rules(rails.input_rules),
        "output": rules(rails.output_rules),
        "word_lists": sorted(rails.word_lists()),
    }


@router.get("")
async def show(request: Request) -> dict:
    return _summary(_rails(request))


@router.post("/reload")
async def reload(request: Request) -> dict:
    rails = _rails(request)
    await asyncio.to_thread(rails.reload)
    return _summary(rails)


@router.put("/word-lists/{name}")
async def replace_word_list(request: Request, name: str, body: WordList) -> dict:
    """The list's new terms (one per line in its file); the rails reload at once."""
    rails = _rails(request)
    path = rails.word_lists().get(name)
    if path is None:
        raise NotFoundError(
            f"word list '{name}' is not configured (known: {', '.join(sorted(rails.word_lists())) or 'none'})",
            param="name",
        )
    await asyncio.to_thread(_replace_and_reload, rails, path, body.words)
    return _summary(rails)


def _replace_and_reload(rails: Rails, path: Path, words: list[str]) -> None:
    old = path.read_bytes() if path.exists() else None
    _write_atomic(path, "".join(f"{w.strip()}\n" for w in words if w.strip()).encode("utf-8"))
    try:
        rails.reload()
    except Exception:
        if old is not None:
            _write_atomic(path, old)  # the rules in force stay, and so does their file
        raise


def _write_atomic(path: Path, data: bytes) -> None:
    """A temp file of its own per call: two PUTs at once (threads of one process) never write one file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(tmp, 0o644)  # a word list, read by every replica's user like the one it replaces
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
