"""Which adapters the replicas that share RAGTUNE_HOME serve: every load or unload through one replica's admin
API (or a background training run) is recorded in adapters/.served.json, and each replica follows that record
before the requests that name a model (server/runtime.py `follow_shared`), so an adapter loaded through one
serves on all and one unloaded through one stops on all.

adapters/.served.json   {"change": n, "adapters": {name: {"loaded": bool, "change": k}}}: the k-th change was
                        this adapter's latest; replaced atomically, so a reader sees one whole record
adapters/.served.lock   one change at a time (a PostgreSQL advisory lock when the feedback database is one:
                        knowledge/locking.py)

A reader checks the record's stat (one system call) and reads it only when it was replaced."""

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import RagtuneError
from knowledge.locking import replaced_stamp, write_atomic, write_lock


@dataclass(frozen=True)
class Entry:
    loaded: bool
    change: int  # the record's change number when this adapter last changed


class SharedAdapters:
    def __init__(self, folder: Path, lock_timeout_s: float, lock_url: str | None = None):
        self.folder, self.lock_timeout_s, self.lock_url = Path(folder), lock_timeout_s, lock_url
        self.file = self.folder / ".served.json"

    def stamp(self) -> tuple | None:
        """Changes whenever the record is replaced (by any replica); None while there is none."""
        return replaced_stamp(self.file)

    def read(self) -> dict[str, Entry]:
        """Each adapter a replica loaded or unloaded, as it was last changed."""
        adapters = self._read().get("adapters", {})
        try:
            return {name: Entry(**entry) for name, entry in adapters.items()}
        except TypeError as err:
            raise RagtuneError(f"{self.file}: an adapter's entry is not {{loaded, change}}: {err}") from None

    def record(self, name: str, loaded: bool) -> int:
        """Records that `name` is now loaded (or unloaded) for every replica; returns the change's number."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = self.folder / ".served.lock"
        with write_lock(lock, self.lock_timeout_s, f"served adapters {self.file}", self.lock_url):
            current = self._read()
            change = current.get("change", 0) + 1
            adapters = {**current.get("adapters", {}), name: {"loaded": loaded, "change": change}}
            data = json.dumps({"change": change, "adapters": adapters}, indent=1).encode("utf-8")
            write_atomic(self.file, data)
        return change

    def _read(self) -> dict:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as err:
            raise RagtuneError(f"{self.file} is not the served adapters' record (JSON): {err}") from None
        if not isinstance(data, dict) or not isinstance(data.get("adapters", {}), dict):
            raise RagtuneError(
                f"{self.file} is not the served adapters' record: {{change, adapters}} expected"
            )
        return data
