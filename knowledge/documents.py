"""A document ready to index: loaded, split into chunks, hashed. Knows files; the index does not."""

import hashlib
import json
from dataclasses import dataclass, field

from core.errors import RagtuneError
from core.settings import KnowledgeSettings
from knowledge.loaders import Loaded, load
from retrieval.splitting import Splitter
from retrieval.text import tokenize


def sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


def make_doc_id(collection: str, key: str) -> str:
    return sha(f"{collection}\0{key}")[:12]


@dataclass
class Chunk:
    text: str
    title: str  # the document's title; for an FAQ pair, its question (and the text its answer)
    tokens: list[str]

    @property
    def embed_text(self) -> str:
        return embed_text(self.title, self.text)

    @property
    def embed_hash(self) -> str:
        return sha(self.embed_text)


@dataclass
class PreparedDocument:
    doc_id: str
    collection: str
    source: str
    title: str
    content_hash: str  # of the file's bytes and its metadata: unchanged means nothing to do
    metadata: dict
    path: str | None = None  # the file it was read from (absolute); None for an upload
    chunks: list[Chunk] = field(default_factory=list)


def embed_text(title: str, text: str) -> str:
    """What the embedder and BM25 see: the title, then the chunk."""
    return f"{title}\n{text}"


def content_hash(data: bytes, metadata: dict) -> str:
    return sha(data + json.dumps(metadata, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def chunk_document(loaded: Loaded, title: str, splitter: Splitter) -> list[Chunk]:
    if loaded.pairs:  # FAQ: each question-answer pair is one chunk, titled by its question
        pieces = [(answer, question) for question, answer in loaded.pairs]
    else:
        pieces = [(piece, title) for piece in splitter.split(loaded.text)]
    return [Chunk(text, head, tokenize(embed_text(head, text))) for text, head in pieces]


def cited_source(metadata: dict, default: str) -> str:
    """What citations show: the url an editor gave, else the file's source name."""
    return metadata.get("url") or default


def prepare(
    name: str,
    data: bytes,
    *,
    doc_id: str,
    collection: str,
    source: str,
    metadata: dict,
    path: str | None,
    splitter: Splitter,
    limits: KnowledgeSettings,
) -> PreparedDocument:
    """Load and chunk one file; one that cannot be read, or that splits into more than
    knowledge.max_chunks_per_document chunks, raises an error that names it."""
    loaded = load(name, data, limits)
    title = metadata.get("title") or loaded.title
    chunks = chunk_document(loaded, title, splitter)
    if not chunks:
        raise RagtuneError(f"{name}: no text found")
    if len(chunks) > limits.max_chunks_per_document:
        raise RagtuneError(
            f"{name}: splits into {len(chunks)} chunks, more than knowledge.max_chunks_per_document "
            f"({limits.max_chunks_per_document}); split the document or raise the limit"
        )
    return PreparedDocument(
        doc_id=doc_id,
        collection=collection,
        source=cited_source(metadata, source),
        title=title,
        content_hash=content_hash(data, metadata),
        metadata=metadata,
        path=path,
        chunks=chunks,
    )
