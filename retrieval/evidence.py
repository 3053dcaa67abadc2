"""How much of a question a text covers: the question's content terms (its BM25 terms less the words that
ask, with a light English stemming on both sides), weighted by corpus IDF, and the share of them a text holds.
The grounding gate decides with it (rails/grounding.py) and the prompt's sources are chosen and cut with it
(retrieval/excerpts.py), in serving and in retrieval-aware training alike."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from retrieval.text import tokenize
from retrieval.types import Hit

IdfLookup = Callable[[list[str]], Mapping[str, float]]

# Words that ask rather than say what is asked about; absent from the sources they would count as missing.
_QUESTION_WORDS = """
    many much long often soon far get got take took happen happens happened something anything thing things
    should now here there isn s t ve ll re d m don doesn didn won cannot need want know tell please also
    still just really else way ways like one use using until
    吗 呢 吧 啊 呀 么 什么 怎么 怎么办 怎样 如何 哪 哪些 哪里 哪个 多少 多久 几 能 能否 可以 可 会 要 需要 想 请问 请
    你们 我们 我 你 您 的话 以后 之后 之内 以内 还 了 着 过 有没有 什 怎 们 话 久 少 多 办 意思 为什么 是否 是不是
    这个 那个 这些 那些 这款 那款 这种 那种 它 它们 该 几天 多长
"""
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())
_SUFFIXES = ("ing", "ed", "es", "s", "ly", "y", "e")
# A product-like name: a CamelCase word followed by capitalised words or model numbers ("AeroBuds Pro 2").
_NAME = re.compile(r"\b[A-Za-z]*[a-z][A-Z][\w+]*(?:\s+(?:[A-Z][\w+-]*|\w*\d[\w+-]*))+")
_PHRASE_WORD = re.compile(r"[\w+-]+")


def stem(word: str) -> str:
    """Crude English stemming, applied alike to question and sources: suffixes off, doubled end undone."""
    if not (word.isascii() and word.isalpha()):
        return word
    previous = None
    while previous != word:
        previous = word
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
                    word = word[:-1]
                break
    return word


def content_terms(question: str) -> list[str]:
    """The question's BM25 terms, once each, less the question words."""
    return [t for t in dict.fromkeys(tokenize(question)) if t not in QUESTION_WORDS]


def product_names(question: str) -> list[str]:
    return [_phrase(m.group()) for m in _NAME.finditer(question)]


def _phrase(text: str) -> str:
    return " ".join(_PHRASE_WORD.findall(text.lower()))


def term_weights(terms: list[str], idf: IdfLookup | None) -> dict[str, float]:
    found = idf(terms) if idf and terms else {}
    return {t: found.get(t, 1.0) for t in terms}


@dataclass(frozen=True)
class Coverage:
    share: float  # IDF-weighted share of the question's terms (and names) found in the text
    missing: list[str]  # what the text lacks


@dataclass(frozen=True)
class QuestionTerms:
    """What a text must hold to answer a question: its content terms with their weights, and its product
    names, each as heavy as the question's rarest term."""

    weights: dict[str, float]
    names: list[str]

    @classmethod
    def of(cls, question: str, idf: IdfLookup | None = None) -> "QuestionTerms":
        return cls(term_weights(content_terms(question), idf), product_names(question))

    def covered_by(self, text: str) -> Coverage:
        tokens = tokenize(text)
        found = set(tokens) | {stem(t) for t in tokens}
        phrase = f" {_phrase(text)} "
        name_weight = max(self.weights.values(), default=1.0)
        total = sum(self.weights.values()) + name_weight * len(self.names)
        missing = [t for t in self.weights if t not in found and stem(t) not in found]
        missing_names = [n for n in self.names if f" {n} " not in phrase]
        lacking = sum(self.weights[t] for t in missing) + name_weight * len(missing_names)
        return Coverage(1.0 - lacking / total if total else 0.0, missing + missing_names)


def hit_text(hit: Hit) -> str:
    return f"{hit.title}\n{hit.text}"


def coverage(question: str, hits: list[Hit], idf: IdfLookup | None = None) -> Coverage:
    """Evidence coverage of the question by the best single hit (0 without hits)."""
    terms = QuestionTerms.of(question, idf)
    best = Coverage(0.0, [*terms.weights, *terms.names])
    for hit in hits:
        found = terms.covered_by(hit_text(hit))
        if found.share > best.share:
            best = found
    return best
