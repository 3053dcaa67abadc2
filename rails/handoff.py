"""Hand-off: the user asks for a person. Phrases are matched like word lists (any case or width, Latin
phrases as whole words, Chinese anywhere)."""

from collections.abc import Iterable

from rails.words import WordMatcher

DEFAULT_PHRASES = (
    "转人工",
    "人工客服",
    "人工服务",
    "找人工",
    "接人工",
    "真人",
    "talk to a human",
    "speak to a human",
    "talk to a person",
    "speak to a person",
    "talk to someone",
    "speak to someone",
    "real person",
    "human agent",
    "live agent",
    "customer service representative",
)


class HandoffDetector:
    def __init__(self, phrases: Iterable[str] = DEFAULT_PHRASES):
        self._matcher = WordMatcher((phrase, phrase) for phrase in phrases)

    def check(self, text: str) -> str | None:
        """The reason to hand this conversation to a person, or None."""
        hits = self._matcher.find(text)
        if not hits:
            return None
        first = min(hits, key=lambda h: h.start)
        return f"asked for a human: {first.value!r}"
