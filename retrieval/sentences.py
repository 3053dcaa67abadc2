"""A source's context units, what the answer check compares an answer's sentences with: the source's whole
text and each of its sentences. Indexing embeds every chunk's units once (knowledge/indexing.py), so the
check on the request path finds them stored."""

import re

from core.language import words
from core.prompt import without_citations

_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*|\n+")
MIN_WORDS = 3  # shorter sentences ("Sure!") are not judged


def split_sentences(text: str) -> list[str]:
    parts = (without_citations(part).strip() for part in _SENTENCE_END.split(text))
    return [p for p in parts if len(words(p)) >= MIN_WORDS]


def context_units(text: str) -> list[str]:
    """The text's units, whole text first; [] for a blank text."""
    return [u for u in dict.fromkeys([text.strip(), *split_sentences(text)]) if u]
