"""Word lists and personal data through the rules, on text written to slip past them: Cyrillic look-alikes,
invisible characters (U+034F, Hangul fillers, zero-width space), fullwidth letters, a word spelled out with
dots. Whole or streamed, the mask covers what the user sees."""

import pytest

from rails.language import Texts
from rails.rules import Rule, RuleSet
from rails.stream import StreamFilter


@pytest.fixture
def rules() -> RuleSet:
    return RuleSet(
        [
            Rule(name="insults", action="mask", words=("idiot", "bad", "傻瓜")),
            Rule(name="personal_data", action="mask", pii=("phone", "id_card", "bank_card", "email")),
        ],
        Texts().by_language("blocked_output"),
    )


DISGUISED = [
    ("You are an іdіot.", "You are an ***."),  # Cyrillic і
    ("You are an idi\u034fot.", "You are an ***."),  # combining grapheme joiner
    ("You are an i\u3164diot.", "You are an ***."),  # Hangul filler
    ("You are an ＩＤＩＯＴ.", "You are an ***."),
    ("That was b.a.d, really B-A-D.", "That was ***, really ***."),
    ("That was bаd.", "That was ***."),  # Cyrillic а
    ("你这个傻\u200b瓜！", "你这个***！"),
    ("你这个傻.瓜！", "你这个***！"),
    ("你这个傻\u3164瓜！", "你这个***！"),
    ("Call 138\u200b0013\u200b8000 or mail john＠example.com", "Call [PHONE] or mail [EMAIL]"),
    ("请拨打１３８００１３８０００或发邮件到jоhn@exаmple.com", "请拨打[PHONE]或发邮件到[EMAIL]"),
]


@pytest.mark.parametrize("text, masked", DISGUISED)
def test_disguised_words_and_personal_data_are_masked(rules, text, masked):
    assert rules.scan(text).text == masked


@pytest.mark.parametrize("text, masked", DISGUISED)
def test_a_stream_masks_them_as_the_whole_text_scan_does(rules, text, masked):
    screen = StreamFilter(rules)
    sent = [screen.feed(char) for char in text]
    assert "".join(sent) + screen.finish() == masked


@pytest.mark.parametrize(
    "text", ["Badly done, e.g. here.", "A.B.C. of returns", "U.S. orders ship in 2 days", "好的，谢谢。坏.人"]
)
def test_ordinary_text_stays(rules, text):
    assert rules.scan(text).text == text
