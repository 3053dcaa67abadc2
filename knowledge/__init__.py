"""The knowledge base: documents, loaders, catalog, versions, incremental refresh."""

from knowledge.base import IngestReport, KnowledgeBase

__all__ = ["IngestReport", "KnowledgeBase"]
