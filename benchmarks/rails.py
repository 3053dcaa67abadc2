"""Rails benchmark: prints the cost of the trust rails per 1,000 tokens of answer, with baselines measured in
the same run. Never asserts a timing.

1. word matching with a generated word list (Aho–Corasick, folding included) vs one `str.find` pass over the
   same text and vs a loop over the words (`word in text`)
2. a whole-answer scan (words + personal data) vs the word matcher alone
3. the streaming filter fed token by token vs passing the tokens through (no filter) and vs one whole scan,
   and how many characters it holds back after each token (against the bound, the longest possible match)

Tokens: Latin words, numbers and punctuation count as one token each and CJK characters as one token each,
close to what a chat model's tokenizer gives for support answers.

Usage: python benchmarks/rails.py [--words 10000] [--tokens 1000] [--repeats 7] [--write-docs]
(--write-docs: the table goes into docs/benchmarks.md, see benchmarks/docs_table.py)
"""

import argparse
import random
import re
import statistics
import sys
import time
from pathlib import Path

import docs_table  # this folder's helper, imported before the folder leaves sys.path

# This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from core.pii import PII_KINDS
from rails.rules import Rule, RuleSet
from rails.stream import StreamFilter
from rails.words import WordMatcher

rng = random.Random(7)
SYLLABLES = ["ka", "lo", "mi", "ter", "van", "dus", "pre", "sol", "qui", "bra", "nex", "ul", "fo", "zen"]
HANZI = "傻瓜笨蛋保证退款永久修理客服订单快递包裹电池屏幕充电耳机手表价格优惠发票售后服务质量问题"
ANSWER_EN = [
    "The AeroBuds Pro have a two-year warranty for manufacturing defects; water damage is excluded.",
    "Order NWG-2025-104233 shipped on Monday with DHL and should arrive within three working days.",
    "Hold the power button for ten seconds until the light blinks, then pair the buds again in the app.",
    "You can return unused items within 30 days; write to support@northwindgadgets.example for a label.",
]
ANSWER_ZH = [
    "AeroBuds Pro 的保修期为两年，涵盖制造缺陷，进水损坏不在保修范围内。",
    "订单 NWG-2025-104233 已于周一由顺丰发出，预计三个工作日内送达。",
    "请长按电源键十秒，直到指示灯闪烁，然后在应用中重新配对耳机。",
    "未使用的商品可在三十天内退货，请联系客服获取退货标签。",
]
_TOKEN = re.compile(r"[A-Za-z]+|\d+|[\u3400-\u9fff]|\s+|.", re.DOTALL)


def make_words(count: int) -> list[str]:
    words: set[str] = set()
    while len(words) < count:
        if rng.random() < 0.3:
            words.add("".join(rng.choice(HANZI) for _ in range(rng.randint(2, 4))))
        else:
            words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def make_tokens(sentences: list[str], count: int) -> list[str]:
    """About `count` tokens (whitespace rides on the token after it), as a model would stream them."""
    tokens: list[str] = []
    while len(tokens) < count:
        pieces = _TOKEN.findall(rng.choice(sentences) + " ")
        for piece in pieces:
            if piece.isspace() and tokens:
                tokens[-1] += piece
            else:
                tokens.append(piece)
    return tokens[:count]


def best_ms(fn, repeats: int) -> float:
    """Median milliseconds of `repeats` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def stream_through(rules: RuleSet | None, tokens: list[str]) -> str:
    if rules is None:
        return "".join(token for token in tokens)
    f = StreamFilter(rules)
    return "".join(f.feed(token) for token in tokens) + f.finish()


def held_back(rules: RuleSet, tokens: list[str]) -> tuple[float, int]:
    """Characters received but not yet sent after each token: (mean, most)."""
    f, held = StreamFilter(rules), []
    for token in tokens:
        f.feed(token)
        held.append(f.waiting)
    return statistics.mean(held), max(held)


def bench_language(name: str, sentences: list[str], words: list[str], tokens: int, repeats: int) -> dict:
    """Prints the figures for one language; returns them per row label (ms per 1,000 tokens; held back)."""
    parts = make_tokens(sentences, tokens)
    text = "".join(parts)
    matcher = WordMatcher((w, "list") for w in words)
    word_rules = RuleSet([Rule(name="words", action="mask", words=tuple(words))], {"zh": "", "en": ""})
    full_rules = RuleSet(
        [
            Rule(name="words", action="mask", words=tuple(words)),
            Rule(name="personal_data", action="mask", pii=PII_KINDS),
        ],
        {"zh": "", "en": ""},
    )
    per_k = 1000 / len(parts)
    rows = [
        ("baseline: one str.find pass", best_ms(lambda: text.find("\x00"), repeats)),
        ("baseline: loop over the words (`w in text`)", best_ms(lambda: [w in text for w in words], repeats)),
        ("word matcher (fold + Aho–Corasick)", best_ms(lambda: matcher.find(text), repeats)),
        ("whole scan: words + personal data", best_ms(lambda: full_rules.scan(text), repeats)),
        ("baseline: stream with no filter", best_ms(lambda: stream_through(None, parts), repeats)),
        ("stream filter: words", best_ms(lambda: stream_through(word_rules, parts), repeats)),
        ("stream filter: words + personal data", best_ms(lambda: stream_through(full_rules, parts), repeats)),
    ]
    print(f"\n{name}: {len(parts)} tokens, {len(text)} characters, {len(words)} words in the list")
    figures = {}
    for label, ms in rows:
        print(f"  {label:<46} {ms * per_k:9.3f} ms per 1,000 tokens")
        figures[label] = f"{ms * per_k:.3g}"
    scan_ms = rows[3][1]
    print(f"  stream (words + personal data) / whole scan: {rows[6][1] / scan_ms:.1f}x")
    for label, rules, bound in [
        ("words", word_rules, word_rules.word_holdback),
        ("words + personal data", full_rules, full_rules.regex_holdback),
    ]:
        mean, most = held_back(rules, parts)
        print(
            f"  held back after each token, {label}: {mean:.1f} characters on average, {most} at most (bound {bound})"
        )
        figures[f"characters held back, {label}: mean / most"] = f"{mean:.1f} / {most}"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    words = make_words(args.words)
    start = time.perf_counter()
    WordMatcher((w, "list") for w in words)
    print(f"automaton of {len(words)} words built in {(time.perf_counter() - start) * 1000:.0f} ms")
    english = bench_language("English answer", ANSWER_EN, words, args.tokens, args.repeats)
    chinese = bench_language("Chinese answer", ANSWER_ZH, words, args.tokens, args.repeats)
    if args.write_docs:
        rows = [[label, english[label], chinese[label]] for label in english]
        note = (
            f"A {args.words:,}-word list plus personal data; answers of {args.tokens:,} tokens; best of "
            f"{args.repeats} repeats. Milliseconds per 1,000 tokens of answer, and characters the stream "
            "filter holds back after each token."
        )
        table = docs_table.markdown_table(["measurement", "English", "Chinese"], rows)
        docs_table.write_table("rails", table, note=note)


if __name__ == "__main__":
    main()
