"""The knowledge base: documents, loaders, catalog, versions, incremental refresh."""

from knowledge.base import KnowledgeBase
from knowledge.writer import IngestReport

__all__ = ["IngestReport", "KnowledgeBase"]
