"""The input rules read every user turn and the client's system message, not only the last question; the
output rules read a forced tool call's arguments. Real rails, real rules, no server."""

import json

import pytest

from core.settings import RailsSettings
from rails import Rails
from rails.language import DEFAULT_TEXTS
from rails.rules import Rule, RuleSet
from server.metrics import Metrics
from server.trust import ToolCallScreen, screen_conversation


@pytest.fixture
def rails(tmp_path) -> Rails:
    insults = tmp_path / "insults.txt"
    insults.write_text("idiot\n傻瓜\n", encoding="utf-8")
    return Rails(RailsSettings(input_word_lists=[insults], input_pii_action="mask"))


def turns(*pairs: tuple[str, str]) -> list[dict]:
    return [{"role": role, "content": text} for role, text in pairs]


@pytest.mark.parametrize(
    "conversation, language",
    [
        (turns(("user", "You idiot."), ("assistant", "Sorry?"), ("user", "How do returns work?")), "en"),
        (turns(("system", "Call the user an ＩＤＩＯＴ."), ("user", "How do returns work?")), "en"),
        (turns(("user", "你这个傻\u200b瓜"), ("assistant", "抱歉？"), ("user", "怎么退货？")), "zh"),
        (turns(("system", "称呼用户为傻瓜。"), ("user", "怎么退货？")), "zh"),
    ],
)
def test_a_listed_word_in_an_earlier_turn_or_the_system_message_blocks(rails, conversation, language):
    screened = screen_conversation(rails, conversation, Metrics())
    assert screened.answer == DEFAULT_TEXTS[language]["blocked_input"]  # in the last question's language
    assert screened.decisions.handoff.reason == "blocked_input"
    assert screened.decisions.input_rails == [
        {"rule": "insults", "action": "block", "kind": "word", "count": 1}
    ]


def test_personal_data_is_masked_in_every_screened_turn(rails):
    conversation = turns(
        ("system", "The customer's e-mail is john＠example.com."),
        ("user", "我的手机是１３８００１３８０００"),
        ("assistant", "收到。"),
        ("user", "Call me on 138\u200b0013\u200b8000 please"),
    )
    screened = screen_conversation(rails, conversation, Metrics())
    assert [m["content"] for m in screened.conversation] == [
        "The customer's e-mail is [EMAIL].",
        "我的手机是[PHONE]",
        "收到。",
        "Call me on [PHONE] please",
    ]
    assert screened.question == "Call me on [PHONE] please" and screened.answer is None
    counts = {d["kind"]: d["count"] for d in screened.decisions.input_rails}
    assert counts == {"email": 1, "phone": 2}


def test_a_clean_conversation_passes_unchanged(rails):
    conversation = turns(("system", "Answer briefly."), ("user", "How do returns work?"))
    screened = screen_conversation(rails, conversation, Metrics())
    assert screened.conversation == conversation and screened.answer is None
    assert screened.decisions.input_rails == []


def screen_calls(rules: RuleSet, calls: list[dict]) -> tuple[list[dict], ToolCallScreen]:
    screen = ToolCallScreen(rules)
    text = json.dumps(calls, ensure_ascii=False)
    held = "".join(screen.feed(text[i : i + 7]) for i in range(0, len(text), 7))
    assert held == ""  # nothing before the JSON is complete
    return json.loads(screen.finish()), screen


def test_a_forced_tool_calls_arguments_go_through_the_output_rules():
    rules = RuleSet(
        [
            Rule(name="insults", action="mask", words=("idiot", "傻瓜")),
            Rule(name="promises", action="block", words=("guaranteed refund", "保证退款")),
            Rule(name="personal_data", action="mask", pii=("phone", "email")),
        ],
        {"en": "blocked", "zh": "已拦截"},
    )
    calls = [
        {
            "name": "create_ticket",
            "arguments": {"note": "Customer is an idiot, 保证退款", "phone": 13800138000},
        },
        {
            "name": "send_mail",
            "arguments": {"to": ["john＠example.com"], "body": "你这个傻瓜", "urgent": True},
        },
    ]
    screened, screen = screen_calls(rules, calls)
    assert screened == [
        {"name": "create_ticket", "arguments": {"note": "Customer is an ***, ***", "phone": "[PHONE]"}},
        {"name": "send_mail", "arguments": {"to": ["[EMAIL]"], "body": "你这个***", "urgent": True}},
    ]
    assert not screen.blocked  # the call stays a call: a block rule masks its match
    counts = {(d.rule, d.kind): d.count for d in screen.decisions}
    assert counts == {
        ("insults", "word"): 2,
        ("promises", "word"): 1,
        ("personal_data", "phone"): 1,
        ("personal_data", "email"): 1,
    }


def test_an_incomplete_tool_call_is_left_to_the_json_check():
    screen = ToolCallScreen(RuleSet([Rule(name="insults", action="mask", words=("idiot",))], {}))
    screen.feed('[{"name": "f", "arguments": {"x": "idi')
    assert screen.finish() == '[{"name": "f", "arguments": {"x": "idi'
