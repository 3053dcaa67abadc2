"""A customer's conversation through the live server, as the demo's pages answer it: greetings, thanks and
vague openers get a conversational reply (no search, no fallback, no hand-off); follow-ups are answered from
the document the earlier turns were about; answers written without generating still report usage and honour
max_tokens; a request that sets no decoding gets the served defaults (greedy for the embedded model)."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
DEMO = Path(__file__).resolve().parents[2] / "examples" / "knowledge"
DEMO_DOCS = ("troubleshooting-aerobuds.md", "zh-aerobuds-troubleshooting.md", "returns.md", "zh-returns.md")
RAG = {"rag": {"collection": "demo"}}


@pytest.fixture(scope="module")
def server(live_server):
    with live_server.admin() as admin:
        for name in DEMO_DOCS:
            files = {"file": (name, (DEMO / name).read_bytes())}
            admin.post("/admin/documents", files=files, data={"collection": "demo"}).raise_for_status()
    return live_server


def chat(server, *turns: str, **kwargs):
    messages = [{"role": ("user", "assistant")[i % 2], "content": text} for i, text in enumerate(turns)]
    return server.client().chat.completions.create(
        model=server.base_model,
        messages=messages,
        max_tokens=kwargs.pop("max_tokens", 24),
        extra_body=RAG,
        **kwargs,
    )


@pytest.mark.parametrize(
    "text, act, words",
    [
        ("hi", "greeting", "help"),
        ("Hello, I need some help", "clarify", "which product"),
        ("ok thanks, that's all", "goodbye", "goodbye"),
        ("who are you?", "identity", "assistant"),
        ("你好", "greeting", "您好"),
        ("谢谢", "thanks", "不客气"),
        ("我有个问题", "clarify", "哪个产品"),
    ],
)
def test_conversational_turns_get_a_reply_without_search_fallback_or_handoff(server, text, act, words):
    before = server.metric(f'ragtune_dialogue_turns_total{{act="{act}"}}')
    reply = chat(server, text, max_tokens=200)
    assert reply.dialogue["act"] == act
    assert words in reply.choices[0].message.content.lower()
    assert reply.handoff is None and reply.citations == [] and reply.grounding is None
    assert server.metric(f'ragtune_dialogue_turns_total{{act="{act}"}}') == before + 1


def test_a_greeting_with_a_question_is_a_question(server):
    reply = chat(server, "hi, how many days do I have to return an item?")
    assert reply.dialogue is None
    assert any(c["source"].endswith("returns.md") for c in reply.citations)


@pytest.mark.parametrize(
    "turns, document",
    [
        (
            (
                "My AeroBuds Pro show error E-117.",
                "E-117 means the earbuds and the case have different firmware.",
                "How do I fix it?",
            ),
            "troubleshooting-aerobuds.md",
        ),
        (
            (
                "I bought AeroBuds Pro and I'd like to send them back.",
                "You can start a return in your account.",
                "How many days do I have?",
            ),
            "returns.md",
        ),
        (
            ("我的 AeroBuds Pro 显示错误 E-117。", "这表示耳机与充电盒的固件版本不一致。", "怎么解决？"),
            "zh-aerobuds-troubleshooting.md",
        ),
        (("我想退货", "好的，可以在账户中申请退货。", "有几天时间？"), "zh-returns.md"),
    ],
)
def test_a_follow_up_is_answered_from_the_document_the_conversation_is_about(server, turns, document):
    reply = chat(server, *turns)
    assert reply.grounding["fallback"] is False and reply.handoff is None
    assert reply.citations and reply.citations[0]["source"].endswith(document)


def test_an_answer_written_without_generating_reports_usage_and_honours_max_tokens(server):
    whole = chat(server, "hi", max_tokens=200)
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage.completion_tokens > 3 and whole.usage.prompt_tokens > 0
    cut = chat(server, "hi", max_tokens=3)
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 3
    assert whole.choices[0].message.content.startswith(cut.choices[0].message.content)
    chunks = list(chat(server, "谢谢", max_tokens=200, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens > 0
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("不客气")


def test_a_request_without_decoding_values_gets_the_served_greedy_defaults(server):
    turns = ("How many days do I have to return an item?",)
    first, second = (chat(server, *turns, max_tokens=24).choices[0].message.content for _ in range(2))
    greedy = chat(server, *turns, max_tokens=24, temperature=0).choices[0].message.content
    assert first == second == greedy
