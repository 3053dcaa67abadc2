"""Personal data written to slip past the patterns (fullwidth digits, zero-width characters between digits,
a fullwidth "＠", Cyrillic letters in an address) is found on the folded text, and the mask covers every
character the user sees, invisible ones included."""

import pytest

from core.folding import fold_patterns, fold_words
from core.pii import find_personal_data, mask_personal_data


@pytest.mark.parametrize(
    "text, masked",
    [
        ("Call me on 138\u200b0013\u200b8000 tonight", "Call me on [PHONE] tonight"),
        ("Call me on １３８ ００１３ ８０００ tonight", "Call me on [PHONE] tonight"),
        ("Write to john＠example.com today", "Write to [EMAIL] today"),
        ("Write to jоhn@exаmple.com today", "Write to [EMAIL] today"),  # Cyrillic о and а
        ("Card 4111\u2060 1111\u2060 1111\u2060 1111, thanks", "Card [BANK_CARD], thanks"),
        ("我的手机是１３８００１３８０００，谢谢", "我的手机是[PHONE]，谢谢"),
        ("手机：138\u200b0013\u200b8000。", "手机：[PHONE]。"),
        ("邮箱ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ收到", "邮箱[EMAIL]收到"),
        ("身份证１１０１０５１９４９１２３１００２Ｘ号", "身份证[ID_CARD]号"),
    ],
)
def test_disguised_personal_data_is_masked_whole(text, masked):
    assert mask_personal_data(text) == masked


def test_a_match_spans_the_characters_the_user_sees():
    text = "号码 138\u200b0013\u200b8000 谢谢"
    (match,) = find_personal_data(text)
    assert (match.kind, match.text) == ("phone", "138\u200b0013\u200b8000")
    assert text[match.start : match.end] == match.text


def test_the_companys_own_contacts_stay_however_written():
    text = "Write to support@northwind.example or ｓｕｐｐｏｒｔ＠ｎｏｒｔｈｗｉｎｄ．ｅｘａｍｐｌｅ"
    assert mask_personal_data(text, keep=("support@northwind.example",)) == text


def test_numbers_split_across_lines_stay_apart():
    """Folding keeps line breaks: two short numbers on their own lines are not one phone number."""
    text = "Order 1380013\n8000 items"
    assert fold_patterns(text).text == text and mask_personal_data(text) == text


def test_folded_offsets_lead_back_to_the_original():
    text = "Ｂ\u200bａ\u3164d and b.a.d"
    folded = fold_words(text)
    assert folded.text == "bad and bad"
    assert text[slice(*folded.span(0, 3))] == "Ｂ\u200bａ\u3164d"
    assert text[slice(*folded.span(8, 11))] == "b.a.d"
