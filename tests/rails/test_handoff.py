"""Hand-off: a user asking for a person, in Chinese or English, is recognised; ordinary questions are not."""

import pytest

from rails.handoff import HandoffDetector


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("我要转人工！", "转人工"),
        ("帮我转到人工客服", "人工客服"),
        ("能不能找人工处理一下", "找人工"),
        ("我想和真人说话", "真人"),
        ("Can I talk to a HUMAN please?", "talk to a human"),
        ("I want to speak to a  person.", "speak to a person"),
        ("Is there a real person there", "real person"),
        ("Get me a human agent", "human agent"),
        ("Connect me with a customer service representative", "customer service representative"),
        ("ｔａｌｋ ｔｏ ａ ｈｕｍａｎ", "talk to a human"),
    ],
)
def test_asking_for_a_person_gives_a_reason(text, phrase):
    assert HandoffDetector().check(text) == f"asked for a human: {phrase!r}"


@pytest.mark.parametrize(
    "text", ["我的耳机没声音了", "Is this a human-readable manual?", "Where is my order?"]
)
def test_ordinary_questions_are_not_handed_off(text):
    assert HandoffDetector().check(text) is None


def test_phrases_are_configurable():
    detector = HandoffDetector(["operator"])
    assert detector.check("Operator!") == "asked for a human: 'operator'"
    assert detector.check("转人工") is None
