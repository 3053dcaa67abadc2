"""Which language a text is in, the one definition every package uses: Chinese or English for replies
(detect_language), and the script of a query for the embedder's languages (script_language); the polite
"not in my sources" answer in each language, shared by retrieval-aware tuning (training.raft), the server's
fallback (rails.language) and refusal detection (evaluation.metrics)."""

import re
from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

# Character ranges, for [...] classes: Han (Chinese characters), kana and Hangul.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
KANA = "\u3040-\u30ff"
_HANGUL = "\uac00-\ud7af"
CJK = re.compile(f"[{KANA}{HAN}{_HANGUL}]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
# One token per Han or kana character (Chinese and Japanese put no spaces between words), otherwise runs of
# letters/digits.
_WORD = re.compile(rf"[{KANA}{HAN}]|[^\W_{KANA}{HAN}]+")

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


# The scripts a query can be told apart by; any other (Latin included) is taken for English.
_SCRIPTS = [
    ("zh", re.compile(f"[{HAN}]")),
    ("ja", re.compile(f"[{KANA}]")),
    ("ko", re.compile(f"[{_HANGUL}]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
]


def script_language(text: str) -> str:
    """The language a text's script tells, among zh, ja, ko, ru, ar and en (Latin or anything else): the
    script of more than 30 % of its letters; kana beats Han, as Japanese writes both ("返品はできますか": ja)."""
    letters = sum(ch.isalpha() for ch in text) or 1
    found = {lang: len(pattern.findall(text)) / letters for lang, pattern in _SCRIPTS}
    if found["ja"] > 0.1:
        return "ja"
    lang, share = max(found.items(), key=lambda item: item[1])
    return lang if share > 0.3 else "en"
