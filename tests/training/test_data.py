"""Training data: every format to one canonical form; malformed records rejected with file:line."""

import json

import pytest

from core.errors import RagtuneError
from training.data import load_conversations, load_preferences


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(tmp_path, *records, name="data.jsonl"):
    return write(tmp_path, name, "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")


def test_messages_with_labels_and_gold_sources(tmp_path):
    path = jsonl(
        tmp_path,
        {
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
            "intent": "greeting",
            "style": "formal",
            "gold_sources": ["returns.md"],
            "id": "c1",
        },
    )
    [sample] = load_conversations(path)
    assert sample.messages[-1] == {"role": "assistant", "content": "Hello!"}
    assert (sample.intent, sample.style, sample.gold_sources, sample.id) == (
        "greeting",
        "formal",
        ["returns.md"],
        "c1",
    )
    assert sample.origin == f"{path}:1"


def test_conversations_wrapper_gives_one_sample_each(tmp_path):
    convs = [
        {
            "id": str(i),
            "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}],
        }
        for i in range(3)
    ]
    samples = load_conversations(jsonl(tmp_path, {"conversations": convs}))
    assert [s.id for s in samples] == ["0", "1", "2"]


def test_prompt_response_and_alpaca(tmp_path):
    samples = load_conversations(
        jsonl(
            tmp_path,
            {"prompt": "What is 2+2?", "response": "4"},
            {"instruction": "Translate", "input": "你好", "output": "Hello"},
        )
    )
    assert samples[0].messages == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    assert samples[1].messages[0]["content"] == "Translate\n\n你好"
    assert samples[1].messages[1]["content"] == "Hello"


def test_context_transcript_with_chinese_speakers(tmp_path):
    record = {
        "context": "用户：我的订单到哪了？\n客服：请提供订单号。\n用户：NW-1234",
        "response": "您的订单已发货。",
        "intent": "order_status",
        "style": "warm",
    }
    [sample] = load_conversations(jsonl(tmp_path, record))
    assert [m["role"] for m in sample.messages] == ["user", "assistant", "user", "assistant"]
    assert sample.messages[2]["content"] == "NW-1234"
    assert sample.messages[3]["content"] == "您的订单已发货。"


def test_question_answer_text_blocks(tmp_path):
    path = write(
        tmp_path,
        "faq.txt",
        "问：退货期限是多久？\n答：30天内可退货。\n\nQ: Do you ship abroad?\nA: Yes,\nto 20 countries.\n",
    )
    samples = load_conversations(path)
    assert samples[0].messages == [
        {"role": "user", "content": "退货期限是多久？"},
        {"role": "assistant", "content": "30天内可退货。"},
    ]
    assert samples[1].messages[1]["content"] == "Yes,\nto 20 countries."
    assert samples[1].origin == f"{path}:4"


def test_json_array_records_carry_their_line(tmp_path):
    path = write(tmp_path, "data.json", '[\n  {"prompt": "a", "response": "b"},\n\n  {"prompt": "c"}\n]\n')
    with pytest.raises(RagtuneError, match=rf"{path}:4: 'response' must be non-empty text"):
        load_conversations(path)


def test_csv_columns(tmp_path):
    path = write(
        tmp_path, "data.csv", 'prompt,response,intent\nHow much?,Ten euros,price\n"Multi\nline",Yes,other\n'
    )
    samples = load_conversations(path)
    assert samples[0].intent == "price"
    assert samples[1].messages[0]["content"] == "Multi\nline"


def test_a_knowledge_bases_faq_files_are_training_data(tmp_path):
    from core.settings import PiiSettings
    from training.pipeline import prepare_faq

    faq = jsonl(tmp_path, {"question": "Is return shipping free?", "answer": "Yes, for defects."}, name="faq.jsonl")
    faq_zh = write(tmp_path, "faq_zh.csv", "question,answer\n退货期限是多久？,自签收之日起 30 天内。\n")
    samples = prepare_faq([faq, faq_zh], pii=PiiSettings())
    assert [(s.last_user(), s.messages[-1]["content"], s.gold_sources) for s in samples] == [
        ("Is return shipping free?", "Yes, for defects.", ["faq.jsonl"]),
        ("退货期限是多久？", "自签收之日起 30 天内。", ["faq_zh.csv"]),
    ]


def test_training_data_keeps_the_companys_own_address_and_masks_the_users(tmp_path):
    from core.settings import PiiSettings
    from training.pipeline import prepare_faq

    pair = {"question": "I am jane.doe@mail.example, where to?", "answer": "To support@northwind.example."}
    faq = jsonl(tmp_path, pair, name="faq.jsonl")
    (masked,) = prepare_faq([faq], pii=PiiSettings(keep=["support@northwind.example"]))
    assert masked.last_user() == "I am [EMAIL], where to?"
    assert masked.messages[-1]["content"] == "To support@northwind.example."
    (kept,) = prepare_faq([faq], pii=PiiSettings(mask_in_training=False))
    assert kept.last_user() == pair["question"]


def test_preference_pairs(tmp_path):
    path = jsonl(
        tmp_path,
        {"prompt": "Hi", "chosen": "Hello, how can I help?", "rejected": "What."},
        {"messages": [{"role": "user", "content": "Refund?"}], "chosen": "Sure.", "rejected": "No."},
    )
    pairs = load_preferences(path)
    assert pairs[1].prompt == [{"role": "user", "content": "Refund?"}]
    assert (pairs[0].chosen, pairs[0].rejected) == ("Hello, how can I help?", "What.")
    assert load_conversations(path)[0].messages[-1]["content"] == "Hello, how can I help?"  # SFT uses chosen


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", r"data.jsonl:2: not valid JSON"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', r"data.jsonl:2: message 1 has role 'robot'"),
        (
            '{"messages": [{"role": "user", "content": "x"}]}',
            r"data.jsonl:2: the last message must be the assistant",
        ),
        ('{"foo": 1}', r"data.jsonl:2: unrecognised record"),
        ('{"context": "用户：hi", "response": ""}', r"data.jsonl:2: 'response' must be non-empty"),
        ('{"prompt": "q", "response": "a", "intent": 3}', r"data.jsonl:2: 'intent' must be text"),
        ("[1, 2]", r"data.jsonl:2: expected a JSON object"),
    ],
)
def test_malformed_records_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path, "data.jsonl", '{"prompt": "ok", "response": "fine"}\n' + line + "\n")
    with pytest.raises(RagtuneError, match=message):
        load_conversations(path)


def test_text_block_without_answer_and_bad_preferences(tmp_path):
    with pytest.raises(RagtuneError, match=r"faq.txt:1: the text must end with an answer"):
        load_conversations(write(tmp_path, "faq.txt", "Q: only a question\n"))
    with pytest.raises(RagtuneError, match=r"pairs.jsonl:1: a preference pair needs"):
        load_preferences(jsonl(tmp_path, {"prompt": "q", "chosen": "a"}, name="pairs.jsonl"))
    with pytest.raises(RagtuneError, match="unsupported training data type '.xml'"):
        load_conversations(write(tmp_path, "data.xml", "<x/>"))
