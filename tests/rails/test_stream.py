"""Streaming answers: what reaches the client equals scanning the whole answer, a listed word split across
chunks never shows, a block stops the stream, and plain text is held back by a bounded amount."""

import itertools
import random

from rails.language import DEFAULT_TEXTS
from rails.rules import Decision, Rule, RuleSet
from rails.stream import StreamFilter


def stream(rules: RuleSet, chunks: list[str], language=None) -> tuple[list[str], StreamFilter]:
    """What the client receives after each chunk (the last entry: after finish)."""
    f = StreamFilter(rules, language)
    sent, out = "", []
    for chunk in chunks:
        sent += f.feed(chunk)
        out.append(sent)
    out.append(sent + f.finish())
    return out, f


def splits(text: str, cuts: tuple[int, ...]) -> list[str]:
    bounds = (0, *cuts, len(text))
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_a_masked_word_split_across_any_chunk_boundaries_never_shows(output_rules):
    text = "Oh, you ＩＤＩＯＴ. 你这个傻瓜，call 138 1234 5678!"
    expected = output_rules.scan(text).text
    assert expected == "Oh, you ***. 你这个***，call [PHONE]!"
    for cuts in itertools.combinations(range(1, len(text)), 2):
        sent, _ = stream(output_rules, splits(text, cuts))
        assert sent[-1] == expected, cuts
        for partial in sent:
            assert "ＩＤ" not in partial and "傻" not in partial and "138" not in partial


def test_streaming_matches_the_whole_text_scan_for_random_chunkings(output_rules):
    rng = random.Random(0)
    pieces = [
        "idiot",
        "Idiots ",
        "stupid",
        "笨蛋",
        "傻",
        "瓜",
        " ",
        "a@b.cn",
        "13812345678",
        "。",
        "ok ",
        "\n",
    ]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        cuts = tuple(sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 6)))))
        sent, _ = stream(output_rules, splits(text, cuts))
        assert sent[-1] == output_rules.scan(text).text, (text, cuts)


def test_a_block_stops_the_stream_and_the_reply_follows_the_question(output_rules):
    text = "Good news: this is a guaranteed refund, and more text follows here."
    for cut in range(1, len(text)):
        sent, f = stream(output_rules, splits(text, (cut,)), language="zh")
        assert f.blocked and sent[-1] == "Good news: this is a "[: len(sent[-1])]
        assert "guaranteed" not in sent[-1] and "more text" not in sent[-1]
        assert f.reply == DEFAULT_TEXTS["zh"]["blocked_output"]
        assert Decision("promises", "block", "word", 1) in f.decisions
        assert f.feed("still generating") == ""


def test_blocked_reply_defaults_to_the_answer_language(output_rules):
    _, f = stream(output_rules, ["当然，我们保", "证退款。"])
    assert f.blocked and f.reply == DEFAULT_TEXTS["zh"]["blocked_output"]


def test_text_without_matches_flows_with_bounded_delay(output_rules):
    text = "The AeroBuds Pro have a two-year warranty; 保修两年，电池除外。" * 5
    f = StreamFilter(output_rules)
    sent = ""
    for i, char in enumerate(text, 1):
        sent += f.feed(char)
        assert len(sent) >= i - f.holdback
    assert sent + f.finish() == text
    assert f.holdback == 49  # personal data: a 48-character window, +1 for look-ahead


def test_words_alone_hold_back_only_the_longest_word():
    rules = RuleSet([Rule("insults", "mask", words=("idiot", "傻瓜"))], {"zh": "", "en": ""})
    f = StreamFilter(rules)
    assert f.holdback == 6
    assert (
        f.feed("Thanks for waiting, here is the answer") == "Thanks for waiting, here is the "
    )  # "answer": 6 held back


def test_no_rules_pass_the_stream_through_at_once():
    f = StreamFilter(RuleSet([], {"zh": "", "en": ""}))
    assert (f.feed("Hello"), f.feed(" world"), f.finish()) == ("Hello", " world", "")


def test_an_address_longer_than_the_window_is_masked_from_where_it_is_still_held(output_rules):
    address = "a" * 60 + "@example.com"
    sent, _ = stream(output_rules, list(f"Mail {address} today"))
    assert sent[-1].endswith("[EMAIL] today") and "example.com" not in sent[-1]
