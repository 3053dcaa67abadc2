"""Language of a text (zh or en, core.language) and the preset texts in each: the fallback answer when the
knowledge base has nothing, the replies to a blocked question and a blocked answer, the hand-off reply and
the notice after an answer its sources do not support (GroundingSettings.answer_check "notice").
Settings override any of them per language."""

from collections.abc import Mapping

from core.errors import RagtuneError
from core.language import DECLINE_EN, DECLINE_ZH, LANGUAGES, Language, detect_language

__all__ = ["DEFAULT_TEXTS", "TEXT_KINDS", "Texts", "detect_language"]

TEXT_KINDS = ("fallback", "blocked_input", "blocked_output", "handoff", "unsupported")
DEFAULT_TEXTS: dict[Language, dict[str, str]] = {
    "zh": {
        "fallback": DECLINE_ZH,
        "blocked_input": "抱歉，这个问题我无法回答。请换一种说法，或咨询与我们的产品和服务有关的问题。",
        "blocked_output": "抱歉，我无法提供这个回答。请换个问题，或联系人工客服。",
        "handoff": "好的，正在为您转接人工客服，请稍候。",
        "unsupported": "（请注意：以上回答中有部分内容我未能在资料中核实。）",
    },
    "en": {
        "fallback": DECLINE_EN,
        "blocked_input": "Sorry, I can't help with that. Please rephrase, or ask about our products and services.",
        "blocked_output": "Sorry, I can't give that answer. Please ask something else or contact a human agent.",
        "handoff": "Sure, I'm connecting you with a human agent. Please wait a moment.",
        "unsupported": "(Please note: I could not confirm all of this answer in my sources.)",
    },
}


class Texts:
    """Preset texts per kind and language; overrides: {"zh": {"fallback": "..."}, ...}."""

    def __init__(self, overrides: Mapping[str, Mapping[str, str]] | None = None):
        self._texts = {language: dict(texts) for language, texts in DEFAULT_TEXTS.items()}
        for language, texts in (overrides or {}).items():
            if language not in LANGUAGES:
                raise RagtuneError(f"rails texts: unknown language {language!r} (use {', '.join(LANGUAGES)})")
            for kind, text in texts.items():
                if kind not in TEXT_KINDS:
                    raise RagtuneError(f"rails texts: unknown kind {kind!r} (use {', '.join(TEXT_KINDS)})")
                self._texts[language][kind] = text

    def get(self, kind: str, language: Language) -> str:
        return self._texts[language][kind]

    def for_text(self, kind: str, text: str) -> str:
        """The text of this kind in the language of `text` (say, the user's question)."""
        return self.get(kind, detect_language(text))

    def by_language(self, kind: str) -> dict[Language, str]:
        return {language: self._texts[language][kind] for language in LANGUAGES}
