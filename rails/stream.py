"""The output rules on a stream: feed the model's text deltas, send what comes back.

Only the tail that a match could still need is held back: the longest listed word (folded characters, +1
for the character that ends a Latin word) and, where regexes or personal data are checked, their bounded
window (core.pii.PII_MAX_CHARS = 48 characters, a regex rule's own `max_chars`, +1 for look-ahead). A match
reaching into the tail holds back from its start. So a listed word split across chunks never reaches the
client, and text without matches flows with at most `holdback` characters of delay. The window is a bound:
an e-mail address longer than 48 characters could have its first characters sent before it is recognised.

On a block, the filter stops: nothing more of the generated text comes out, and the caller sends `reply`."""

from collections import Counter
from dataclasses import replace

from core.language import Language, detect_language
from rails.rules import Decision, Hit, RuleSet, count_hits, decisions

_CONTEXT = 8  # characters already sent that stay visible to the rules (word boundaries, look-behind)
_LANGUAGE_SAMPLE = 400  # characters of the answer that decide the reply's language when none was given


class StreamFilter:
    def __init__(self, rules: RuleSet, language: Language | None = None):
        self.rules = rules
        self.language = language
        self.blocked = False
        self._context = ""  # the last characters sent (original text)
        self._pending = ""  # received, not yet sent
        self._sample = ""
        self._counts: Counter = Counter()

    @property
    def holdback(self) -> int:
        """The most characters held back while no match is in the way (folded characters for words)."""
        return max(self.rules.word_holdback, self.rules.regex_holdback)

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
        hits, cut = self.rules.find(text, final)
        # A match reaching back into text already sent (only an e-mail longer than the window can):
        # the rest of it is still masked.
        hits = [h if h.start >= start else replace(h, start=start) for h in hits if h.end > start]
        if any(h.rule.action == "block" and not h.tentative for h in hits):
            count_hits((h for h in hits if not h.tentative), self._counts)
            self.blocked, self._pending = True, ""
            return ""
        cut = _before_open_hits(max(cut, start), hits)
        sent = [h for h in hits if h.end <= cut and not h.tentative]
        count_hits(sent, self._counts)
        out = self.rules.masked(text, sent, start, cut)
        self._context, self._pending = text[max(0, cut - _CONTEXT) : cut], text[cut:]
        return out


def _before_open_hits(cut: int, hits: list[Hit]) -> int:
    """Move the cut back to the start of any hit it would split."""
    moved = True
    while moved:
        moved = False
        for hit in hits:
            if hit.start < cut < hit.end:
                cut, moved = hit.start, True
    return cut
