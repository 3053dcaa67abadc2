"""Scanning a whole text: masks, blocks in the text's language, flags, and decisions without values."""

import re

import pytest

from rails.language import DEFAULT_TEXTS
from rails.rules import Decision, Rule, RuleSet

PII_TEXTS = [
    ("我的手机是13812345678，请回电", "我的手机是[PHONE]，请回电", "phone"),
    ("Call me on +86 138-1234-5678 please", "Call me on [PHONE] please", "phone"),
    ("身份证号11010519491231002X已提交", "身份证号[ID_CARD]已提交", "id_card"),
    ("My ID is 11010519491231002X.", "My ID is [ID_CARD].", "id_card"),
    ("银行卡 4111 1111 1111 1111 扣款失败", "银行卡 [BANK_CARD] 扣款失败", "bank_card"),
    ("Card 4111111111111111 was charged", "Card [BANK_CARD] was charged", "bank_card"),
    ("邮箱li.lei@example.com收不到", "邮箱[EMAIL]收不到", "email"),
    ("Mail a.b+c@mail.example.cn now", "Mail [EMAIL] now", "email"),
]


@pytest.mark.parametrize(("text", "masked", "kind"), PII_TEXTS)
def test_each_kind_of_personal_data_is_masked(output_rules, text, masked, kind):
    result = output_rules.scan(text)
    assert (result.text, result.blocked) == (masked, False)
    assert result.decisions == (Decision(rule="personal_data", action="mask", kind=kind, count=1),)


def test_numbers_that_are_not_personal_data_pass(output_rules):
    text = "Order NWG-2025-104233 costs 1299 yuan; card 1234 5678 9012 3456 fails Luhn; ID 110105194912310021"
    assert output_rules.scan(text).text == text


def test_words_are_masked_and_counted_without_echoing_them(output_rules):
    result = output_rules.scan("You IDIOT, you Stupid 傻瓜! Call 13812345678")
    assert result.text == "You ***, you *** ***! Call [PHONE]"
    assert set(result.decisions) == {
        Decision(rule="insults", action="mask", kind="word", count=3),
        Decision(rule="personal_data", action="mask", kind="phone", count=1),
    }
    assert "13812345678" not in repr(result.decisions) and "IDIOT" not in repr(result.decisions)


@pytest.mark.parametrize(
    ("text", "language"),
    [("当然，我们保证退款。", "zh"), ("Sure, you get a GUARANTEED refund.", "en")],
)
def test_block_replaces_the_whole_text_with_the_reply_in_its_language(output_rules, text, language):
    result = output_rules.scan(text)
    assert result.blocked and result.language == language
    assert result.text == DEFAULT_TEXTS[language]["blocked_output"]


def test_block_reply_can_follow_the_question_language(output_rules):
    assert (
        output_rules.scan("A guaranteed refund!", language="zh").text == DEFAULT_TEXTS["zh"]["blocked_output"]
    )


def test_flag_passes_the_text_and_records_the_match():
    rules = RuleSet(
        [Rule(name="order_number", action="flag", pattern=re.compile(r"NWG-\d{4}-\d{6}"), max_chars=15)],
        {"zh": "", "en": ""},
    )
    result = rules.scan("Where is NWG-2025-104233 and NWG-2025-310588?")
    assert result.text == "Where is NWG-2025-104233 and NWG-2025-310588?"
    assert result.decisions == (Decision(rule="order_number", action="flag", kind="regex", count=2),)


def test_the_longest_listed_word_wins_and_own_contacts_stay():
    rules = RuleSet(
        [
            Rule(name="insults", action="mask", words=("傻", "傻瓜")),
            Rule(name="pii", action="mask", pii=("email",), keep=frozenset({"support@northwind.example"})),
        ],
        {"zh": "", "en": ""},
    )
    result = rules.scan("傻瓜 support@northwind.example li@example.com")
    assert result.text == "*** support@northwind.example [EMAIL]"
