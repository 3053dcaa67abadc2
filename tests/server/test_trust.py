"""The trust rails through the real server: a listed word never reaches the client, even split across stream
chunks; personal data is masked; a request for a person and a question the knowledge base cannot answer get
the `handoff` object and an answer in the question's language; an editor's list change applies at once."""

from itertools import pairwise

import httpx
import pytest

pytestmark = pytest.mark.slow
NO_RAG = {"rag": {"enabled": False}}
PROMPT = [{"role": "user", "content": "Describe the colours of a rainbow in one sentence."}]


def chat(server, messages, stream=False, extra=None, max_tokens=40) -> tuple[str, dict]:
    """(answer text, the final extension fields) through the official client."""
    reply = server.client().chat.completions.create(
        model=server.base_model,
        messages=messages,
        temperature=0,
        max_tokens=max_tokens,
        stream=stream,
        extra_body={**NO_RAG, **(extra or {})},
    )
    if not stream:
        return reply.choices[0].message.content, reply.model_extra
    chunks = list(reply)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = [c.model_extra for c in chunks if c.model_extra.get("rails") is not None][-1]
    return text, final, [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


def set_banned(server, words: list[str]) -> dict:
    with server.admin() as admin:
        reply = admin.put("/admin/rails/word-lists/banned", json={"words": words})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_a_listed_word_split_across_stream_chunks_never_reaches_the_client(live_server):
    from transformers import AutoTokenizer

    set_banned(live_server, [])
    text = chat(live_server, PROMPT)[0]
    # a term the model writes in two or more tokens, so the engine streams it in as many deltas: a word of
    # several tokens where the answer has one, else two adjacent words
    tokenizer = AutoTokenizer.from_pretrained(live_server.model_path)
    words = [w.strip(".,!?;:") for w in text.split()]
    straddling = [w for w in words if len(w) >= 4 and len(tokenizer.tokenize(" " + w)) >= 2]
    straddling += [f"{a} {b}" for a, b in pairwise(words) if f"{a} {b}" in text]
    assert straddling, f"no term of {text!r} spans two tokens"
    banned = straddling[0]
    summary = set_banned(live_server, [banned.upper()])  # case-insensitive; applies to the next request
    assert "banned" in summary["word_lists"]
    streamed, final, _ = chat(live_server, PROMPT, stream=True)
    whole, extensions = chat(live_server, PROMPT)
    for answer in (streamed, whole):
        assert banned.lower() not in answer.lower() and "***" in answer
    assert any(d["rule"] == "banned" and d["action"] == "mask" for d in final["rails"]["output"])
    assert any(d["rule"] == "banned" for d in extensions["rails"]["output"])
    set_banned(live_server, [])
    assert banned in chat(live_server, PROMPT)[0]  # lifted at once, too


def test_a_bad_word_list_change_is_refused_and_the_old_list_stays(live_server):
    set_banned(live_server, ["rainbow"])
    with live_server.admin() as admin:
        missing = admin.put("/admin/rails/word-lists/nope", json={"words": ["x"]})
        assert missing.status_code == 404 and "banned" in missing.json()["error"]["message"]
        wrong = admin.put("/admin/rails/word-lists/banned", json={"words": "rainbow"})
        assert wrong.status_code == 400
    assert "rainbow" not in chat(live_server, PROMPT)[0].lower()
    set_banned(live_server, [])


@pytest.mark.parametrize(
    "message, kind",
    [
        ("My phone is 13812345678, please call me.", "phone"),
        ("我的手机号是13812345678，请回电。", "phone"),
        ("Write to li.lei@example.com about my order.", "email"),
        ("请发邮件到 li.lei@example.com 告诉我结果。", "email"),
        ("My ID card is 11010519491231002X.", "id_card"),
        ("我的身份证号是11010519491231002X。", "id_card"),
        ("Refund to card 4111 1111 1111 1111 please.", "bank_card"),
        ("请退款到银行卡4111111111111111。", "bank_card"),
    ],
)
def test_personal_data_in_a_question_is_found_per_kind(live_server, message, kind):
    _, extensions = chat(live_server, [{"role": "user", "content": message}], max_tokens=4)
    found = {d["kind"] for d in extensions["rails"]["input"]}
    assert kind in found
    assert message.split()[-1] not in str(extensions)  # decisions never echo the value


@pytest.mark.parametrize(
    "phrase, language_word", [("我要转人工", "人工"), ("Can I talk to a human please?", "human agent")]
)
def test_asking_for_a_person_gives_the_handoff_object(live_server, phrase, language_word):
    messages = [{"role": "user", "content": phrase}]
    answer, extensions = chat(live_server, messages)
    streamed, final, _ = chat(live_server, messages, stream=True)
    for fields, text in ((extensions, answer), (final, streamed)):
        assert fields["handoff"]["reason"] == "user_asked"
        assert fields["handoff"]["message"] == text and language_word in text
    before = live_server.metric('ragtune_handoffs_total{reason="user_asked"}')
    chat(live_server, messages)
    assert live_server.metric('ragtune_handoffs_total{reason="user_asked"}') == before + 1


@pytest.mark.parametrize(
    "question, expected",
    [("What is the capital of Mongolia?", "Sorry, I have no information"), ("蒙古的首都是哪里？", "抱歉")],
)
def test_an_out_of_knowledge_question_gets_the_fallback_in_its_language(live_server, question, expected):
    extra = {"rag": {"collection": "empty-collection"}}
    answer, extensions = chat(live_server, [{"role": "user", "content": question}], extra=extra)
    assert answer.startswith(expected)
    assert extensions["grounding"]["fallback"] is True and extensions["handoff"]["reason"] == "fallback"
    text = httpx.get(f"{live_server.url}/metrics", timeout=30).text
    assert 'ragtune_grounding_decisions_total{decision="fallback"}' in text


def test_an_answerable_question_passes_the_gate(live_server):
    _, extensions = chat(
        live_server, [{"role": "user", "content": "How many days do I have to return a gadget?"}], extra={"rag": {}}
    )
    assert extensions["grounding"]["fallback"] is False and extensions["handoff"] is None
    assert extensions["citations"]
