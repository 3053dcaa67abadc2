"""Trust rails: input and output rules (word lists, regexes, personal data), a streaming-safe output filter,
hand-off detection and preset texts in Chinese and English. A library with no HTTP; the chat service
calls `Rails` (rails/guard.py)."""

from rails.guard import Rails
from rails.handoff import HandoffDetector
from rails.language import Texts, detect_language
from rails.rules import Decision, Rule, RuleSet, ScanResult
from rails.stream import StreamFilter

__all__ = [
    "Decision",
    "HandoffDetector",
    "Rails",
    "Rule",
    "RuleSet",
    "ScanResult",
    "StreamFilter",
    "Texts",
    "detect_language",
]
