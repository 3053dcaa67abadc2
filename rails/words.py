"""Word lists matched with one Aho–Corasick automaton (pyahocorasick), insensitive to case and width.

Text and words are folded the same way: NFKC, casefold, invisible format characters (zero-width space, soft
hyphen) dropped, whitespace runs made one space. The folded text keeps a map back to the original offsets,
so a match masks the characters the user actually sees. Latin words match whole words only ("ass" is not in
"class"); CJK words match anywhere, as Chinese has no spaces between words."""

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Generic, TypeVar

import ahocorasick

from core.errors import RagtuneError
from core.language import is_cjk

T = TypeVar("T")
_NOT_SIMPLE = re.compile(r"[^\x00-\x7f]|\s\s")  # ASCII without whitespace runs folds character for character
_ASCII_SPACES = str.maketrans("\t\n\r\x0b\x0c", "     ")


@lru_cache(maxsize=65536)
def _fold_cluster(cluster: str) -> str:
    if cluster.isspace():
        return " "
    kept = "".join(c for c in cluster if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", kept).casefold())


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    """One character folded on its own; "" for a combining mark (folded with its base character)."""
    return "" if unicodedata.combining(char) else _fold_cluster(char)


@dataclass(frozen=True)
class Folded:
    """Folded text; starts[i]/ends[i]: the original span folded character i came from (None: identity)."""

    text: str
    original_len: int
    starts: list[int] | None = None
    ends: list[int] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original span of folded span [start, end) (end > start)."""
        if self.starts is None:
            return start, end
        return self.starts[start], self.ends[end - 1]

    def index(self, original: int) -> int:
        """Folded offset of the first folded character from original offset `original` or later."""
        return original if self.starts is None else bisect_left(self.starts, original)

    def origin(self, index: int) -> int:
        """Original offset of folded offset `index` (0..len(text))."""
        if self.starts is None or index <= 0:
            return max(index, 0)
        return self.starts[index] if index < len(self.text) else self.original_len


def fold(text: str) -> Folded:
    if not _NOT_SIMPLE.search(text):
        return Folded(text=text.lower().translate(_ASCII_SPACES), original_len=len(text))
    chars = list(map(_fold_char, text))
    folded = "".join(chars)
    if len(folded) == len(text) and "" not in chars and "  " not in folded:  # one to one: offsets agree
        return Folded(text=folded, original_len=len(text))
    parts, starts, ends = [], [], []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        folded = _fold_cluster(text[i:j])
        if folded == " " and parts and parts[-1] == " ":
            ends[-1] = j  # one space for a whitespace run
        elif folded:
            parts.extend(folded)
            starts.extend([i] * len(folded))
            ends.extend([j] * len(folded))
        i = j
    return Folded(text="".join(parts), original_len=n, starts=starts, ends=ends)


def fold_word(word: str) -> str:
    return fold(word.strip()).text


def _wordish(char: str) -> bool:
    """A letter or digit of a script that separates words by spaces."""
    return char.isalnum() and not is_cjk(char)


@dataclass(frozen=True)
class WordHit(Generic[T]):
    start: int  # original offsets
    end: int
    value: T
    tentative: bool = False  # at the end of unfinished text: the next character may still undo the match


class WordMatcher(Generic[T]):
    """Finds folded words in folded text; each word carries a value (say, the rule that listed it)."""

    def __init__(self, words: Iterable[tuple[str, T]]):
        entries: dict[str, list[T]] = {}
        for word, value in words:
            folded = fold_word(word)
            if folded:
                entries.setdefault(folded, []).append(value)
        self.longest = max(map(len, entries), default=0)  # in folded characters
        self._automaton = ahocorasick.Automaton()
        for folded, values in entries.items():
            self._automaton.add_word(folded, (folded, _wordish(folded[0]), _wordish(folded[-1]), values))
        if entries:
            self._automaton.make_automaton()

    def __bool__(self) -> bool:
        return self.longest > 0

    def open_start(self, text: str, folded: Folded) -> int:
        """Where the end of unfinished text that more text could still make a listed word begins (original
        offset): the longest end that begins a listed word, the last character counting as any character, as
        a combining mark may still follow and change how it folds ("cafe" + U+0301, "ハ" + U+3099)."""
        if not text:
            return 0
        last = len(text) - 1
        while last > 0 and unicodedata.combining(text[last]):
            last -= 1
        end = folded.index(last)
        for length in range(min(self.longest, end), 0, -1):
            if self._automaton.match(folded.text[end - length : end]):
                return folded.origin(end - length)
        return last

    def find(self, text: str | Folded, final: bool = True) -> list[WordHit[T]]:
        """All hits, overlapping ones included, in original offsets. With final=False the text may go on:
        a Latin word at its very end is a tentative hit (the next character may make it part of a longer word)."""
        if not self:
            return []
        folded = text if isinstance(text, Folded) else fold(text)
        s, hits = folded.text, []
        for last, (word, left, right, values) in self._automaton.iter(s):
            start, end = last - len(word) + 1, last + 1
            if (left and start > 0 and _wordish(s[start - 1])) or (
                right and end < len(s) and _wordish(s[end])
            ):
                continue
            tentative = not final and right and end == len(s)
            original = folded.span(start, end)
            hits += [
                WordHit(start=original[0], end=original[1], value=value, tentative=tentative)
                for value in values
            ]
        return hits


def load_word_list(path: Path) -> list[str]:
    """Terms of a UTF-8 word list: one per line, `#` starts a comment line, blank lines are skipped."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise RagtuneError(f"{path}: cannot read the word list ({error.strerror})") from None
    words = []
    for number, line in enumerate(raw.splitlines(), 1):
        try:
            term = line.decode("utf-8").lstrip("\ufeff").strip()
        except UnicodeDecodeError:
            raise RagtuneError(f"{path}:{number}: not UTF-8") from None
        if not term or term.startswith("#"):
            continue
        if not fold_word(term):
            raise RagtuneError(f"{path}:{number}: the term {term!r} has no visible characters")
        words.append(term)
    return words
