"""Language of a text (zh or en, core.language) and the preset texts in each: the fallback answer when the
knowledge base has nothing, the replies to a blocked question and a blocked answer, the hand-off reply and
the notice after an answer its sources do not support (GroundingSettings.answer_check "notice"), and the
replies to conversational turns (rails/dialogue.py).
Settings override any of them per language."""

from collections.abc import Mapping

from core.errors import RagtuneError
from core.language import DECLINE_EN, DECLINE_ZH, LANGUAGES, Language, detect_language

__all__ = ["DEFAULT_TEXTS", "TEXT_KINDS", "Texts", "detect_language"]

DIALOGUE_KINDS = ("greeting", "thanks", "acknowledge", "goodbye", "identity", "clarify")  # rails/dialogue.py
TEXT_KINDS = ("fallback", "blocked_input", "blocked_output", "handoff", "unsupported", *DIALOGUE_KINDS)
DEFAULT_TEXTS: dict[Language, dict[str, str]] = {
    "zh": {
        "fallback": DECLINE_ZH,
        "blocked_input": "抱歉，这个问题我无法回答。请换一种说法，或咨询与我们的产品和服务有关的问题。",
        "blocked_output": "抱歉，我无法提供这个回答。请换个问题，或联系人工客服。",
        "handoff": "好的，正在为您转接人工客服，请稍候。",
        "unsupported": "（请注意：以上回答中有部分内容我未能在资料中核实。）",
        "greeting": "您好！我是在线客服助手，请问有什么可以帮您？",
        "thanks": "不客气！还有其他可以帮您的吗？",
        "acknowledge": "好的。还有其他问题吗？",
        "goodbye": "感谢您的咨询，祝您生活愉快，再见！",
        "identity": "我是在线客服助手，可以根据我们的帮助资料解答产品、订单、配送、退换货和保修等问题；"
        "如有需要，也可以为您转接人工客服。请问有什么可以帮您？",
        "clarify": "当然可以帮您。请问是关于哪个产品或哪笔订单的？具体遇到了什么情况？",
    },
    "en": {
        "fallback": DECLINE_EN,
        "blocked_input": "Sorry, I can't help with that. Please rephrase, or ask about our products and services.",
        "blocked_output": "Sorry, I can't give that answer. Please ask something else or contact a human agent.",
        "handoff": "Sure, I'm connecting you with a human agent. Please wait a moment.",
        "unsupported": "(Please note: I could not confirm all of this answer in my sources.)",
        "greeting": "Hello! I'm the support assistant. How can I help you today?",
        "thanks": "You're welcome! Is there anything else I can help you with?",
        "acknowledge": "All right. Is there anything else I can help you with?",
        "goodbye": "Thanks for contacting us. Have a great day, goodbye!",
        "identity": "I'm the virtual support assistant. I answer questions about our products, orders, "
        "shipping, returns and warranty from our help documents, and I can pass you to a human agent if "
        "you need one. How can I help?",
        "clarify": "Of course, I'm happy to help. Which product or order is it about, and what happened?",
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
