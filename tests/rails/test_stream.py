"""Streaming answers: what reaches the client equals scanning the whole answer, a listed word split across
chunks never shows, a block stops the stream, and plain text is held back by a bounded amount."""

import itertools
import random
import re

import pytest
import regex

from core.pii import PII_KINDS
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
        "+86 ",
        "e\u0301",
        "NWG-2025-104233",
        "support@northwindgadgets.example",
    ]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        cuts = tuple(sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 6)))))
        sent, _ = stream(output_rules, splits(text, cuts))
        assert sent[-1] == output_rules.scan(text).text, (text, cuts)


def test_streaming_personal_data_next_to_each_other_matches_the_whole_text_scan(output_rules):
    """Fed one character at a time, where a pattern's first complete match is not its last (a phone number
    that goes on), a longer match of an earlier kind takes over (an e-mail address whose name is a phone
    number), and one match's look-behind sees another's end."""
    for text in [
        "瓜+86 4111 1111 1111 1111 ok",
        "13812345678support@northwindgadgets.example ok",
        "a@b.cn(010) 1234 5678 ok",
    ]:
        sent, _ = stream(output_rules, list(text))
        assert sent[-1] == output_rules.scan(text).text, text


def test_a_block_stops_the_stream_and_the_reply_follows_the_question(output_rules):
    text = "Good news: this is a guaranteed refund, and more text follows here."
    for cut in range(1, len(text)):
        sent, f = stream(output_rules, splits(text, (cut,)), language="zh")
        assert f.blocked and sent[-1] == "Good news: this is a "[: len(sent[-1])]
        assert "guaranteed" not in sent[-1] and "more text" not in sent[-1]
        assert f.reply == DEFAULT_TEXTS["zh"]["blocked_output"]
        assert Decision(rule="promises", action="block", kind="word", count=1) in f.decisions
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


def test_only_text_that_could_still_become_a_match_is_held_back(output_rules):
    """Not the whole window: the end of a Latin word or number (an e-mail address or phone number could still
    grow from it), what begins a listed word, and the last character (a combining mark may follow)."""
    text = "The AeroBuds Pro have a two-year warranty; 电池两年内免费更换。Call us soon"
    f = StreamFilter(output_rules)
    sent = ""
    for i, char in enumerate(text, 1):
        sent += f.feed(char)
        held = text[len(sent) : i]
        assert re.fullmatch(r"[A-Za-z0-9_.+-]*.?", held, re.DOTALL), (text[:i], held)
    assert sent == text[:-4]  # "soon" could still be the start of an e-mail address
    f = StreamFilter(output_rules)
    assert f.feed("请拨打 138 0013") == "请拨打 "  # a mobile number may follow
    assert f.feed(" 8000 后回电，傻") == "[PHONE] 后回电，"  # "傻" begins "傻瓜"
    assert f.feed("瓜，") + f.finish() == "***，"


def test_words_alone_hold_back_only_what_begins_a_listed_word():
    rules = RuleSet([Rule(name="insults", action="mask", words=("idiot", "傻瓜"))], {"zh": "", "en": ""})
    f = StreamFilter(rules)
    assert f.holdback == 6  # at most: the longest word and the character that ends it
    assert f.feed("Thanks for waiting, here is the answer") == "Thanks for waiting, here is the answe"
    assert f.feed(", you id") == "r, you "  # "id" could become "idiot"
    assert f.feed("iot!") + f.finish() == "***!"


@pytest.mark.parametrize(
    ("rules", "chunks"),
    [
        # a combining mark changes the character before it: "cafe" + U+0301 is "café", "ハ" + U+3099 is "バ"
        ([Rule(name="words", action="mask", words=("café",))], ["un caf", "e", "\u0301 noir"]),
        ([Rule(name="words", action="mask", words=("バカ",))], ["お前は", "ハ", "\u3099カだ"]),
        # a bank card in the making hides a phone number before it; more digits undo the card
        (
            [Rule(name="pd", action="mask", pii=PII_KINDS)],
            ["Call +44 20 7946 0321", "49301234567", "89012 now"],
        ),
        # an e-mail address grows out of the last digits of a number and frees what comes before
        ([Rule(name="pd", action="mask", pii=PII_KINDS)], ["Call +49 30 1234 5678 9012", ".", "j@x.cn ok"]),
        # a kept address: the number right after it is seen as one scan of the whole text sees it
        (
            [
                Rule(
                    name="pd",
                    action="mask",
                    pii=PII_KINDS,
                    keep=frozenset({"support@northwindgadgets.example"}),
                )
            ],
            ["Mail support@northwindgadgets.example", "+4", "9 30 1234 5678 ok"],
        ),
        # a regex rule's look-behind sees up to its max_chars of text already sent
        (
            [
                Rule(
                    name="order",
                    action="mask",
                    pattern=regex.compile(r"(?<=order number )\d{6}"),
                    max_chars=19,
                )
            ],
            ["Your order number ", "123456 is ready"],
        ),
    ],
)
def test_streams_mask_what_one_scan_of_the_whole_answer_masks(rules, chunks):
    rule_set = RuleSet(rules, {"zh": "", "en": ""})
    sent, _ = stream(rule_set, chunks)
    assert sent[-1] == rule_set.scan("".join(chunks)).text


def test_no_rules_pass_the_stream_through_at_once():
    f = StreamFilter(RuleSet([], {"zh": "", "en": ""}))
    assert (f.feed("Hello"), f.feed(" world"), f.finish()) == ("Hello", " world", "")


def test_an_address_longer_than_the_window_is_masked_from_where_it_is_still_held(output_rules):
    address = "a" * 60 + "@example.com"
    sent, _ = stream(output_rules, list(f"Mail {address} today"))
    assert sent[-1].endswith("[EMAIL] today") and "example.com" not in sent[-1]
