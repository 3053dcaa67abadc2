"""Which language a text is in: Chinese or English for the replies a user reads, and the script of a query
for the embedder's languages."""

import pytest

from core.language import DECLINE, detect_language, script_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How long do returns take?", "en"),
        ("退货需要多久？", "zh"),
        ("我的 iPhone 15 坏了", "zh"),  # a product name inside Chinese is still Chinese
        ("Does the warranty cover 屏幕 damage?", "en"),  # one Chinese word inside English is still English
        ("", "en"),
        ("12345 ???", "en"),
    ],
)
def test_replies_follow_the_language_the_user_writes_in(text, language):
    assert detect_language(text) == language


def test_each_decline_is_in_its_own_language():
    assert {language: detect_language(text) for language, text in DECLINE.items()} == {"zh": "zh", "en": "en"}


def test_a_querys_script_tells_its_language():
    assert script_language("退货需要多久？") == "zh"
    assert script_language("NW-4471 的保修期是多久") == "zh"
    assert script_language("how long is the warranty of NW-4471") == "en"
    assert script_language("返品はできますか") == "ja"  # kana beside Han: Japanese, not Chinese
    assert script_language("반품할 수 있나요") == "ko"
    assert script_language("Можно вернуть товар?") == "ru"
