"""Which files a folder holds, what each is called: its identity (absolute path), the source citations show
(relative to its root) and the name reports use. Nothing here leads outside a root: a symbolic link that
does is refused, and a folder to sync must lie inside one of the allowed roots."""

import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ForbiddenError
from knowledge.loaders import supported


@dataclass(frozen=True)
class SourceFile:
    path: Path  # where to read it
    key: str  # absolute path: the document's identity (doc id) and what a sync of a folder covers
    source: str  # what citations show: the path relative to its root, or the file name
    name: str  # how reports name it: as the user gave it (kb add), or the source (sync)


@dataclass
class Found:
    files: list[SourceFile] = field(default_factory=list)  # supported files
    skipped: list[SourceFile] = field(default_factory=list)  # unsupported types
    refused: list[tuple[SourceFile, str]] = field(default_factory=list)  # (file, why it is not read)


def sync_scope(folder: Path, roots: list[Path] | None) -> tuple[Path, Path]:
    """(the folder to sync, resolved; the root its documents' sources are relative to). With roots, a
    relative folder is looked up under each root and the folder must lie inside one; the refusal names only
    the folder as given."""
    if roots is None:
        resolved = folder.resolve()
        return resolved, resolved
    inside = []
    for root in (Path(r).resolve() for r in roots):
        candidate = (root / folder).resolve()  # an absolute folder stays itself
        if candidate.is_relative_to(root):
            inside.append((candidate, root))
    if not inside:
        raise ForbiddenError(
            f"sync: {folder} is not inside a folder this knowledge base may sync (knowledge.sync_roots)"
        )
    return next(((f, r) for f, r in inside if f.is_dir()), inside[0])


def walk(folder: Path, root: Path, shown: Path | None = None) -> Found:
    """Files under a resolved folder, sorted; hidden files and folders are left out, symbolic links to
    folders are not followed, and a link to a file outside `root` is refused. Names in reports start with
    `shown` (what the user typed), or are the source when it is None."""
    found = Found()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(n for n in filenames if not n.startswith(".")):
            path = Path(dirpath) / name
            source = path.relative_to(root).as_posix()
            shown_as = str(shown / path.relative_to(folder)) if shown is not None else source
            file = SourceFile(path=path, key=str(path), source=source, name=shown_as)
            if not path.resolve().is_relative_to(root):
                found.refused.append(
                    (file, "a symbolic link leading outside the allowed folder; not followed")
                )
            elif path.is_file():
                (found.files if supported(name) else found.skipped).append(file)
    return found


def given(paths: list[Path]) -> Found:
    """Files and folders named by a user (kb add): a folder's sources are relative to it, a file's source
    is its name; reports name them as given."""
    found = Found()
    for path in paths:
        if path.is_dir():
            resolved = path.resolve()
            inner = walk(resolved, resolved, shown=path)
            found.files += inner.files
            found.skipped += inner.skipped
            found.refused += inner.refused
            continue
        file = SourceFile(path=path, key=str(path.resolve()), source=path.name, name=str(path))
        if not path.is_file():
            found.refused.append((file, "no such file or folder"))
        elif supported(path.name):
            found.files.append(file)
        else:
            found.refused.append((file, f"unsupported file type {path.suffix or '(none)'!r}"))
    return found
