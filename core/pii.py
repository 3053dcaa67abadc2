"""Personal data in free text: e-mail addresses, Chinese ID numbers (checksum-valid), bank cards (Luhn-valid),
Chinese mobiles and other phone numbers (8+ digits). One finder yields the matches; masking, training-data
cleaning and the trust rails all build on it. The patterns are `regex` patterns (re-compatible syntax) so a
stream can ask where a match could still begin (partial matching, rails.rules)."""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import regex

from core.folding import Folded, fold_patterns

PII_KINDS = ("email", "id_card", "phone", "bank_card")
# Longest text a match can span, e-mail addresses aside (a bank card of 19 digits with a separator between
# every digit is 37 characters). Streaming filters hold back this much; see rails.stream.
PII_MAX_CHARS = 48

# Latin letters only: \w would take in the Chinese written around an address with no space ("邮箱a@b.cn收到").
_EMAIL = regex.compile(r"[A-Za-z0-9_.+-]+@[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+")
_ID_CARD = regex.compile(
    r"(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])"
)
_CARD = regex.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
_CN_MOBILE = regex.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
# International (+CC ...), bracketed area code, or Chinese landline (010-12345678); may follow Chinese text.
_PHONE = regex.compile(
    r"(?<![\dA-Za-z_+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)|\d{1,4})(?:[ .-]?\d{2,4}){2,3}"
    r"|\(\d{2,4}\)[ .-]?\d{3,4}[ .-]?\d{4}|0\d{2,3}-\d{7,8})(?!\d)"
)
_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CLAIMED = "\x00"  # stands in for text an earlier pattern took: no pattern matches it or across it


@dataclass(frozen=True)
class PiiMatch:
    kind: str  # one of PII_KINDS
    start: int
    end: int
    text: str

    @property
    def tag(self) -> str:
        return f"[{self.kind.upper()}]"


def _id_checksum_ok(number: str) -> bool:
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return "10X98765432"[total % 11] == number[17].upper()


def _luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def _enough_digits(number: str) -> bool:
    return sum(c.isdigit() for c in number) >= 8


# In this order: a span taken by an earlier pattern is not searched again by a later one.
_PATTERNS: list[tuple[str, regex.Pattern, Callable[[str], bool]]] = [
    ("email", _EMAIL, lambda s: True),
    ("id_card", _ID_CARD, _id_checksum_ok),
    ("phone", _CN_MOBILE, lambda s: True),
    ("bank_card", _CARD, _luhn_ok),
    ("phone", _PHONE, _enough_digits),
]


def find_personal_data(text: str, keep: tuple[str, ...] | frozenset[str] = ()) -> list[PiiMatch]:
    """Non-overlapping matches in text order; values in `keep` (the company's own addresses and numbers)
    and numbers failing their check (ID checksum, Luhn, digit count) are not matches."""
    return _scan(text, keep)[0]


# A span of text a match took, with the index of its pattern in _PATTERNS: later patterns do not match it.
Taken = tuple[int, int, int]


def scan_unfinished(
    text: str, start: int, taken: Iterable[Taken], floor: int | None
) -> tuple[list[PiiMatch], list[Taken], int]:
    """For a stream, what one scan of the whole text would find so far: the matches beginning at or after
    `start` (the text before it was sent: look-behind only, `taken` by earlier matches there), the spans they
    take, and where a match that more text could still complete, extend or take over begins, at or after
    `floor` (len(text): nowhere; None: the text is final, not looked for)."""
    return _scan(text, (), start, taken, floor)


def to_end(pattern: regex.Pattern) -> regex.Pattern:
    """The pattern running to the end of the text: where it matches partially, more text could still make
    (or extend) a match of the pattern."""
    closing = "\n)" if pattern.flags & regex.VERBOSE else ")"  # a verbose pattern may end in a comment
    return regex.compile(f"(?:{pattern.pattern}{closing}\\Z", pattern.flags)


def open_start(to_end_pattern: regex.Pattern, text: str, pos: int) -> int:
    """Where a match that more text could still complete or extend begins, at or after pos (partial matching
    of a to_end() pattern); len(text): nowhere."""
    match = to_end_pattern.search(text, pos, partial=True)
    return match.start() if match else len(text)


_TO_END = [to_end(pattern) for _, pattern, _ in _PATTERNS]


def _scan(
    text: str,
    keep: tuple[str, ...] | frozenset[str],
    start: int = 0,
    taken: Iterable[Taken] = (),
    floor: int | None = None,
) -> tuple[list[PiiMatch], list[Taken], int]:
    """The patterns run on the folded text (fullwidth digits, "＠", zero-width characters, Cyrillic look-alikes
    made plain); offsets in and out are the original text's, so a mask covers what the user sees."""
    folded = fold_patterns(text)
    if folded.starts is None:  # nothing folded away: offsets agree
        return _scan_folded(folded.text, text, keep, start, taken, floor)
    matches, spans, unfinished = _scan_folded(
        folded.text,
        text,
        keep,
        folded.index(start),
        [(folded.index(a), folded.index(b), by) for a, b, by in taken],
        None if floor is None else folded.index(floor),
        folded,
    )
    return matches, [(*folded.span(a, b), by) for a, b, by in spans], folded.origin(unfinished)


def _scan_folded(
    text: str,
    original: str,
    keep: tuple[str, ...] | frozenset[str],
    start: int,
    taken: Iterable[Taken],
    floor: int | None,
    folded: Folded | None = None,
) -> tuple[list[PiiMatch], list[Taken], int]:
    """_scan on the folded `text`: matches in `original`'s offsets (through `folded`), spans and the open end
    in the folded text's."""
    spans, found, unfinished = list(taken), [], len(text)
    known = len(spans)
    for index, ((kind, pattern, valid), to_end_pattern) in enumerate(zip(_PATTERNS, _TO_END)):
        earlier = [(a, b) for a, b, by in spans if by < index]
        if floor is not None:
            # Earlier matches reaching into the open end could still be undone: they take nothing here. A match
            # of this pattern reaching there could still change, or take what another one needs.
            sure_text = _claim(text, [(a, b) for a, b in earlier if b <= unfinished])
            unfinished = min(unfinished, open_start(to_end_pattern, sure_text, floor))
            reaching = (m.start() for m in pattern.finditer(sure_text, start) if m.end() > unfinished)
            unfinished = min(unfinished, next(reaching, unfinished))
        new = [
            (m.start(), m.end())
            for m in pattern.finditer(_claim(text, earlier), start)
            if text[m.start() : m.end()] not in keep and valid(text[m.start() : m.end()])
        ]
        for a, b in new:
            first, last = folded.span(a, b) if folded else (a, b)
            if original[first:last] not in keep:
                found.append(PiiMatch(kind=kind, start=first, end=last, text=original[first:last]))
                spans.append((a, b, index))
    return sorted(found, key=lambda m: m.start), spans[known:], unfinished


def _claim(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The text with the spans of matches made unmatchable (what later patterns see)."""
    parts, last = [], 0
    for start, end in sorted(spans):
        parts += [text[last:start], _CLAIMED * (end - start)]
        last = end
    return "".join(parts) + text[last:]


def mask_personal_data(text: str, counts: Counter | None = None, keep: tuple[str, ...] = ()) -> str:
    """Replace personal data by tags ([EMAIL], [ID_CARD], [PHONE], [BANK_CARD]), counted per tag in
    `counts`; values in `keep` stay."""
    counts = counts if counts is not None else Counter()
    parts, last = [], 0
    for match in find_personal_data(text, keep):
        parts += [text[last : match.start], match.tag]
        counts[match.kind.upper()] += 1
        last = match.end
    return "".join(parts) + text[last:]
