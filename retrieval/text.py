"""Tokens for BM25: Chinese via rjieba, English words and product codes."""

import re

import rjieba

from core.language import HAN

# Runs of Han characters, or words/codes: letters and digits joined by - _ . / (NW-4471, 2.5, A/B).
_WORD = rf"[^\W_{HAN}]+"
_TOKEN = re.compile(rf"[{HAN}]+|{_WORD}(?:[-_./]{_WORD})*")
_HAN = re.compile(f"[{HAN}]")
_CJK_STOPWORDS = set("的了是在和与及或也都就而之其这那有为以于")
# fmt: off
STOPWORDS = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "did", "for", "from",
    "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on",
    "or", "our", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "to", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would",
    "you", "your",
}
# fmt: on


def tokenize(text: str) -> list[str]:
    """Lowercased words and whole codes (plus their parts), jieba words (plus characters) for Chinese;
    stopwords dropped."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        word = match.group()
        if _HAN.match(word):  # jieba words, plus their characters so paraphrases (退 / 退货) still meet
            words = [t for t in rjieba.cut(word) if t.strip() and t not in _CJK_STOPWORDS]
            tokens.extend(words)
            tokens.extend(ch for w in words if len(w) > 1 for ch in w if ch not in _CJK_STOPWORDS)
        elif word not in STOPWORDS:
            tokens.append(word)
            parts = re.split(r"[-_./]", word)
            if len(parts) > 1:
                tokens.extend(p for p in parts if p not in STOPWORDS)
    return tokens
