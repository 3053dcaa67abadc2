"""Chinese or English: which of the two a text is in, and the polite "not in my sources" answer in each,
shared by retrieval-aware tuning (training.raft) and the server's fallback (rails.language)."""

import re
from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

# Han, kana and Hangul: scripts written without spaces between words.
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
# One token per CJK character (Chinese has no spaces), otherwise runs of letters/digits.
_CJK_RANGE = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK_RANGE}]|[^\W_{_CJK_RANGE}]+")

DECLINE_EN = "I'm sorry, but my sources don't contain that information, so I can't answer it reliably."
DECLINE_ZH = "抱歉，我的资料中没有这方面的信息，无法可靠地回答这个问题。"
DECLINE: dict[Language, str] = {"zh": DECLINE_ZH, "en": DECLINE_EN}


def is_cjk(char: str) -> bool:
    return CJK.match(char) is not None


def detect_language(text: str) -> Language:
    """Chinese ("zh") when CJK characters are at least as many as Latin words ("我的 iPhone 15 坏了"),
    else English ("en"; "Does the warranty cover 屏幕 damage?")."""
    cjk = len(CJK.findall(text))
    return "zh" if cjk and cjk >= len(_LATIN_WORD.findall(text)) else "en"


def words(text: str) -> list[str]:
    """Lowercased words, each CJK character one word: for counting and overlap in any language."""
    return _WORD.findall(text.lower())
