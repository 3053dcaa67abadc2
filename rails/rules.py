"""Rules and rule sets: word lists, custom regexes and built-in personal-data kinds, each with an action.

- block: the whole text is replaced by the set's preset reply, in the text's language;
- mask: the match is replaced by a mask (`***` for words and regexes, `[PHONE]`-style tags for personal data);
- flag: the text passes unchanged and the match is recorded.

A scan returns the new text and its decisions (rule, action, kind, count): never the matched values."""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import regex

from core.language import Language, detect_language
from core.pii import PII_KINDS, PII_MAX_CHARS, Taken, open_start, scan_unfinished, to_end
from rails.words import WordMatcher, fold

Action = Literal["block", "mask", "flag"]
ACTIONS: tuple[Action, ...] = ("block", "mask", "flag")
DEFAULT_REGEX_MAX_CHARS = 32


@dataclass(frozen=True)
class Rule:
    """One rule: words (any case or width), personal-data kinds (core.pii) and/or one regex."""

    name: str
    action: Action
    words: tuple[str, ...] = ()
    pii: tuple[str, ...] = ()
    pattern: regex.Pattern | None = None
    max_chars: int = DEFAULT_REGEX_MAX_CHARS  # longest text the regex can match: the most a stream holds back
    mask: str | None = None  # None: "[PHONE]"-style tags for personal data, the set's mask otherwise
    keep: frozenset[str] = field(default_factory=frozenset)  # personal data never matched (own contacts)

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"rule {self.name!r}: action must be one of {', '.join(ACTIONS)}")
        if unknown := set(self.pii) - set(PII_KINDS):
            raise ValueError(f"rule {self.name!r}: unknown personal-data kind {min(unknown)!r}")


@dataclass(frozen=True)
class Hit:
    rule: Rule
    kind: str  # "word", "regex" or a personal-data kind
    start: int
    end: int
    tentative: bool = False  # at the end of unfinished text, may still change


@dataclass(frozen=True)
class Found:
    hits: list[Hit]  # within a rule leftmost-longest; across rules they may overlap
    settled: int  # more text cannot change what comes before this offset (len(text) when final)
    taken: list[Taken]  # spans of personal data, of any kind (what a stream's next scan must skip)


@dataclass(frozen=True)
class Decision:
    rule: str
    action: Action
    kind: str
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "action": self.action, "kind": self.kind, "count": self.count}


@dataclass(frozen=True)
class ScanResult:
    text: str  # the text to use: masked, or the preset reply when blocked
    decisions: tuple[Decision, ...]
    blocked: bool
    language: Language


def count_hits(hits: Iterable[Hit], into: Counter | None = None) -> Counter:
    """Hits counted per (rule, action, kind)."""
    counts = into if into is not None else Counter()
    counts.update((h.rule.name, h.rule.action, h.kind) for h in hits)
    return counts


def decisions(counts: Counter) -> tuple[Decision, ...]:
    return tuple(
        Decision(rule=rule, action=action, kind=kind, count=n)
        for (rule, action, kind), n in counts.items()
        if n
    )


class RuleSet:
    """The rules for one side (input or output) and the reply that replaces a blocked text, per language."""

    def __init__(self, rules: Sequence[Rule], replies: Mapping[Language, str], mask: str = "***"):
        self.rules = tuple(rules)
        self.replies = dict(replies)
        self.mask = mask
        self._words = WordMatcher((w, rule) for rule in self.rules for w in rule.words)
        self._pii = [rule for rule in self.rules if rule.pii]
        self._regex = [rule for rule in self.rules if rule.pattern is not None]
        self._regex_to_end = [to_end(rule.pattern) for rule in self._regex]
        # Characters already sent that a stream keeps visible to the regexes (their look-behind).
        self.regex_lookbehind = max((rule.max_chars for rule in self._regex), default=0)
        # Most a stream holds back: folded characters for words (+1: the character that ends a Latin word),
        # original characters for regexes and personal data (+1: their look-ahead).
        self.word_holdback = self._words.longest + 1 if self._words else 0
        regex_max = [r.max_chars for r in self._regex] + [PII_MAX_CHARS for _ in self._pii]
        self.regex_holdback = max(regex_max) + 1 if regex_max else 0

    def __bool__(self) -> bool:
        return bool(self.rules)

    def reply(self, language: Language) -> str:
        return self.replies[language]

    def find(self, text: str, final: bool = True, start: int = 0, taken: Iterable[Taken] = ()) -> Found:
        """What the rules find in text. A stream passes `start` (its text before it was settled: look-behind
        only for regexes and personal data) and the personal data `taken` there, so it finds what one scan of
        the whole text would."""
        folded = fold(text) if self._words else None
        hits = [
            Hit(rule=h.value, kind="word", start=h.start, end=h.end, tentative=h.tentative)
            for h in self._words.find(folded or text, final)
        ]
        floor = None if final else max(len(text) - self.regex_holdback, start)
        personal_data, new_taken, unfinished = (
            scan_unfinished(text, start, taken, floor) if self._pii else ([], [], len(text))
        )
        hits += [
            Hit(rule=rule, kind=m.kind, start=m.start, end=m.end, tentative=not final and m.end == len(text))
            for rule in self._pii
            for m in personal_data
            if m.kind in rule.pii and m.text not in rule.keep
        ]
        for rule in self._regex:
            hits += [
                Hit(
                    rule=rule,
                    kind="regex",
                    start=m.start(),
                    end=m.end(),
                    tentative=not final and m.end() == len(text),
                )
                for m in rule.pattern.finditer(text, start)
                if m.end() > m.start()
            ]
        taken = [*taken, *new_taken]
        if final:
            return Found(_leftmost_longest(hits), len(text), taken)
        # What a match could still need: a regex or personal-data match that more text could complete or
        # extend (never further back than the hold-back window: older text is settled whatever comes), the
        # end that could still become a listed word, a tentative hit.
        settled = min([unfinished, *(open_start(p, text, floor) for p in self._regex_to_end)])
        if folded is not None:
            settled = min(settled, self._words.open_start(text, folded))
        settled = min([settled, *(h.start for h in hits if h.tentative)])
        return Found(_leftmost_longest(hits), settled, taken)

    def masked(self, text: str, hits: Iterable[Hit], start: int = 0, end: int | None = None) -> str:
        """text[start:end] with the mask hits inside it replaced; overlapping masks merge into one."""
        end = len(text) if end is None else end
        parts, last = [], start
        for hit in sorted((h for h in hits if h.rule.action == "mask"), key=lambda h: (h.start, -h.end)):
            if hit.start >= last:
                parts += [text[last : hit.start], self._mask_for(hit)]
            last = max(last, hit.end)
        return "".join(parts) + text[last:end]

    def _mask_for(self, hit: Hit) -> str:
        if hit.rule.mask is not None:
            return hit.rule.mask
        return f"[{hit.kind.upper()}]" if hit.kind in PII_KINDS else self.mask

    def scan(self, text: str, language: Language | None = None) -> ScanResult:
        """The whole text at once. language: of the preset reply (None: the text's own)."""
        hits = self.find(text).hits
        language = language or detect_language(text)
        found = decisions(count_hits(hits))
        if any(h.rule.action == "block" for h in hits):
            return ScanResult(text=self.reply(language), decisions=found, blocked=True, language=language)
        return ScanResult(text=self.masked(text, hits), decisions=found, blocked=False, language=language)


def _leftmost_longest(hits: list[Hit]) -> list[Hit]:
    """Per rule, overlapping hits reduced to the leftmost, then longest ("傻瓜" wins over "瓜" in "傻瓜")."""
    kept, reach = [], {}
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        if hit.start >= reach.get(hit.rule.name, 0):
            kept.append(hit)
            reach[hit.rule.name] = hit.end
    return kept
