"""Text folded for matching, with a map back to the original offsets, so a match masks the characters the user
actually sees. Two foldings share the machinery:

- fold_words (word lists, rails.words): NFKC, letters that look Latin made Latin, casefold, invisible
  characters dropped, whitespace runs made one space, a word spelled out with dots or dashes joined ("b.a.d");
- fold_patterns (personal data, core.pii): NFKC (fullwidth digits and "＠"), letters that look Latin made
  Latin, invisible characters dropped; case, whitespace and punctuation kept, as the patterns read them.

Invisible: format characters (category Cf: zero-width space, joiners, soft hyphen, bidi controls) and the
other default-ignorable code points a filter evasion uses (U+034F combining grapheme joiner, the Hangul
fillers U+115F, U+1160, U+3164, U+FFA0, variation selectors)."""

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

from core.language import HAN

_IGNORABLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0]
    + list(range(0x180B, 0x1810))
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0100, 0xE01F0))
)
# Letters of other scripts drawn like Latin ones, as Unicode's confusables data (UTS #39) pairs them. A table
# of our own: the full data also maps digits to letters (0 -> O, 1 -> l) and "m" to "rn", which would blind
# the personal-data patterns; only letters that render as the Latin letter are here.
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic capitals and small letters
        **dict(zip("АВЕКМНОРСТХУЅІЈԚԜҺӀ", "ABEKMHOPCTXYSIJQWHI")),
        **dict(zip("аеорсухѕіјԁԛԝһӏк", "aeopcyxsijdqwhlk")),
        # Greek capitals and small letters
        **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX")),
        **dict(zip("αοριχκνυγ", "aopixkvuy")),
        # Latin and Armenian look-alikes of plain Latin letters
        **dict(zip("ıɑɡɩօհս", "iagiohu")),
    }
)
_ASCII_SPACES = str.maketrans("\t\n\r\x0b\x0c", "     ")
_NOT_SIMPLE = re.compile(r"[^\x00-\x7f]|\s\s")  # ASCII without whitespace runs folds character for character
# A word spelled out letter by letter with one separator between: single letters ("b.a.d", "s-h-i-t"), or
# Chinese characters, each a word of its own ("傻.瓜").
_SEPARATOR = r"[.\-_*·•・]"
_SPELLED = re.compile(rf"(?<!\w)(?:[^\W\d_]{_SEPARATOR})+[^\W\d_](?!\w)|[{HAN}](?:{_SEPARATOR}[{HAN}])+")
_SEPARATORS = frozenset(".-_*·•・")


def _visible(chars: str) -> str:
    return "".join(c for c in chars if ord(c) not in _IGNORABLE and unicodedata.category(c) != "Cf")


@lru_cache(maxsize=65536)
def _fold_cluster(cluster: str, words: bool) -> str:
    """One character with its combining marks."""
    if cluster.isspace():
        return " " if words else unicodedata.normalize("NFKC", cluster)
    latin = unicodedata.normalize("NFKC", _visible(cluster)).translate(_LOOKALIKES)
    if words:
        latin = unicodedata.normalize("NFKC", latin.casefold()).translate(_LOOKALIKES)
    return _visible(latin)


@lru_cache(maxsize=65536)
def _fold_char(char: str, words: bool) -> str:
    """One character folded on its own; "" for a combining mark (folded with its base character)."""
    return "" if unicodedata.combining(char) else _fold_cluster(char, words)


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


def fold_words(text: str) -> Folded:
    """For word lists: what a reader would take for the same word folds to the same text."""
    if not _NOT_SIMPLE.search(text):
        lowered = text.lower().translate(_ASCII_SPACES)
        if not _SPELLED.search(lowered):
            return Folded(text=lowered, original_len=len(text))
        return _joined(_mapped(text, words=True))
    chars = [_fold_char(c, True) for c in text]
    folded = "".join(chars)
    simple = len(folded) == len(text) and "" not in chars and "  " not in folded  # offsets agree
    if simple and not _SPELLED.search(folded):
        return Folded(text=folded, original_len=len(text))
    return _joined(_mapped(text, words=True))


def fold_patterns(text: str) -> Folded:
    """For the personal-data patterns: fullwidth, look-alike and invisible characters made plain."""
    if text.isascii():
        return Folded(text=text, original_len=len(text))
    chars = [_fold_char(c, False) for c in text]
    folded = "".join(chars)
    if len(folded) == len(text) and "" not in chars:
        return Folded(text=folded, original_len=len(text))
    return _mapped(text, words=False)


def _mapped(text: str, words: bool) -> Folded:
    """Folded cluster by cluster (a character and its combining marks), with the offsets map."""
    parts, starts, ends = [], [], []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        folded = _fold_cluster(text[i:j], words)
        if words and folded == " " and parts and parts[-1] == " ":
            ends[-1] = j  # one space for a whitespace run
        elif folded:
            parts.extend(folded)
            starts.extend([i] * len(folded))
            ends.extend([j] * len(folded))
        i = j
    return Folded(text="".join(parts), original_len=n, starts=starts, ends=ends)


def _joined(folded: Folded) -> Folded:
    """The separators of words spelled out letter by letter dropped ("b.a.d" -> "bad")."""
    dropped = {
        i
        for m in _SPELLED.finditer(folded.text)
        for i in range(m.start(), m.end())
        if folded.text[i] in _SEPARATORS
    }
    if not dropped:
        return folded
    starts = folded.starts or list(range(len(folded.text)))
    ends = folded.ends or list(range(1, len(folded.text) + 1))
    kept = [i for i in range(len(folded.text)) if i not in dropped]
    return Folded(
        text="".join(folded.text[i] for i in kept),
        original_len=folded.original_len,
        starts=[starts[i] for i in kept],
        ends=[ends[i] for i in kept],
    )
