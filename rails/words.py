"""Word lists matched with one Aho–Corasick automaton (pyahocorasick), insensitive to case and width.

Text and words are folded the same way (core.folding.fold_words): NFKC, letters that look Latin made Latin
(Cyrillic "а"), casefold, invisible characters (zero-width space, soft hyphen, U+034F, Hangul fillers)
dropped, whitespace runs made one space, a word spelled out with dots or dashes joined ("b.a.d"). The folded
text keeps a map back to the original offsets, so a match masks the characters the user actually sees.
Latin words match whole words only ("ass" is not in "class"); CJK words match anywhere, as Chinese has no
spaces between words."""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import ahocorasick

from core.errors import RagtuneError
from core.folding import Folded, fold_words
from core.language import is_cjk

T = TypeVar("T")


def fold(text: str) -> Folded:
    """Text as word lists are matched against it (core.folding.fold_words)."""
    return fold_words(text)


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
