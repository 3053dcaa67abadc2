"""The output rules on a stream: feed the model's text deltas, send what comes back.

Only the text that a match could still need is held back: the end that begins a listed word (the last
character too when words are listed, as a combining mark may follow), and the end where a regex or
personal-data match could still begin, complete or grow (partial matching: for support answers usually the
last word, as an e-mail address could grow from it, or a number). So a listed word split across chunks never
reaches the client, and plain text flows almost at once. The characters already sent before the held text
stay visible to the rules (8, or a regex rule's max_chars: word boundaries, look-behind), with the personal
data found in them, so the stream finds what one scan of the whole answer would. While no match is in the
way, at most `holdback` characters wait (the longest listed word +1; core.pii.PII_MAX_CHARS = 48 for personal
data, a regex rule's own `max_chars`, +1); text older than that window is sent whatever comes, so an e-mail
address longer than 48 characters could have its first characters sent before it is recognised.

On a block, the filter stops: nothing more of the generated text comes out, and the caller sends `reply`."""

from collections import Counter
from dataclasses import replace

from core.language import Language, detect_language
from core.pii import Taken
from rails.rules import Decision, RuleSet, count_hits, decisions

_CONTEXT = 8  # characters already sent that stay visible to the rules (word boundaries, look-behind; a
# custom regex rule's look-behind sees as many as its max_chars)
_LANGUAGE_SAMPLE = 400  # characters of the answer that decide the reply's language when none was given


class StreamFilter:
    def __init__(self, rules: RuleSet, language: Language | None = None):
        self.rules = rules
        self.language = language
        self.blocked = False
        self._context = ""  # the last characters sent (original text)
        self._pending = ""  # received, not yet sent
        self._taken: list[Taken] = []  # personal data in the context (its offsets)
        self._sample = ""
        self._counts: Counter = Counter()

    @property
    def holdback(self) -> int:
        """The most characters held back while no match is in the way (folded characters for words)."""
        return max(self.rules.word_holdback, self.rules.regex_holdback)

    @property
    def waiting(self) -> int:
        """Characters received and not yet sent."""
        return len(self._pending)

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return decisions(self._counts)

    @property
    def reply(self) -> str:
        """The preset reply for a blocked answer, in the given language or the answer's."""
        return self.rules.reply(self.language or detect_language(self._sample))

    def feed(self, delta: str) -> str:
        """The text now safe to send ("" while holding back, and for good once blocked)."""
        if self.blocked or not delta:
            return ""
        self._pending += delta
        if len(self._sample) < _LANGUAGE_SAMPLE:
            self._sample += delta
        return self._release(final=False)

    def finish(self) -> str:
        """The held-back tail, scanned as the end of the answer."""
        return "" if self.blocked else self._release(final=True)

    def _release(self, final: bool) -> str:
        text, start = self._context + self._pending, len(self._context)
        found = self.rules.find(text, final, start, self._taken)
        hits, cut = found.hits, found.settled
        # Matches begin at or after `start` (regexes and personal data are searched from there, the beginning
        # of a listed word is never sent); should one reach back into text already sent, its rest is masked.
        hits = [h if h.start >= start else replace(h, start=start) for h in hits if h.end > start]
        if any(h.rule.action == "block" and not h.tentative for h in hits):
            count_hits((h for h in hits if not h.tentative), self._counts)
            self.blocked, self._pending = True, ""
            return ""
        # Never inside a hit or a span of personal data (which another match's look-behind may need to see).
        spans = [(h.start, h.end) for h in hits] + [(a, b) for a, b, _ in found.taken if a >= start]
        cut = _before_spans(max(cut, start), spans)
        sent = [h for h in hits if h.end <= cut and not h.tentative]
        count_hits(sent, self._counts)
        out = self.rules.masked(text, sent, start, cut)
        kept = max(0, cut - max(_CONTEXT, self.rules.regex_lookbehind))
        self._context, self._pending = text[kept:cut], text[cut:]
        self._taken = [
            (max(a, kept) - kept, min(b, cut) - kept, by) for a, b, by in found.taken if a < cut and b > kept
        ]
        return out


def _before_spans(cut: int, spans: list[tuple[int, int]]) -> int:
    """Move the cut back to the start of any span it would split."""
    moved = True
    while moved:
        moved = False
        for start, end in spans:
            if start < cut < end:
                cut, moved = start, True
    return cut
