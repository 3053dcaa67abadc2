"""Knowledge-base settings (one section of ragtune's Settings)."""

from pydantic import BaseModel


class KnowledgeSettings(BaseModel):
    keep_versions: int = 10  # older knowledge-base versions are pruned
    default_collection: str = "default"
    max_file_mb: int = 50
    lock_timeout_s: float = 30.0  # a second writer waits this long, then fails with a clear message
