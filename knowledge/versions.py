"""Versions: the kept ones (the last `knowledge.keep_versions`), and rollback to one of them."""

from core.errors import NotFoundError
from knowledge.store import Store


class Versions:
    def __init__(self, store: Store):
        self.store = store

    def list(self) -> list[dict]:
        """Kept versions, oldest first; `live` marks the one searches use."""
        live, logged = self.store.live_version(), self.store.catalog.logged_versions()
        unlogged = {"created_at": None, "note": "", "documents": None, "chunks": None}  # a killed publish
        return [
            {**unlogged, **logged.get(v, {}), "version": v, "live": v == live}
            for v in self.store.kept_versions()
        ]

    def rollback(self, version: int) -> None:
        with self.store.writer():
            kept = self.store.kept_versions()
            if version not in kept:
                raise NotFoundError(
                    f"rollback: version {version} does not exist or was pruned (kept: {kept})"
                )
            self.store.set_live(version)
