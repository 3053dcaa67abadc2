"""Chunks sized in the embedding model's tokens: markdown-aware, with overlap, Chinese split at sentence
ends."""

from langchain_text_splitters import RecursiveCharacterTextSplitter

# Markdown structure first, then paragraphs, lines, sentences (Western and CJK), clauses, words.
SEPARATORS = [
    "\n#{1,6} ",
    "```\n",
    "\n\\*\\*\\*+\n",
    "\n---+\n",
    "\n___+\n",
    "\n\n",
    "\n",
    "(?<=[。！？；])",
    "(?<=[.!?;]) ",
    "(?<=[，,、]) ?",
    " ",
    "",
]


class Splitter:
    def __init__(self, tokenizer, chunk_tokens: int, overlap: int):
        self._splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
            tokenizer,
            chunk_size=chunk_tokens,
            chunk_overlap=overlap,
            separators=SEPARATORS,
            is_separator_regex=True,
            keep_separator="start",
            strip_whitespace=True,
        )

    def split(self, text: str) -> list[str]:
        return [chunk for chunk in self._splitter.split_text(text) if chunk.strip()]
