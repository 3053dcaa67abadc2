"""The fields OpenAI clients send, through the real server and the official client: each changes the output
as it does on OpenAI's API (streamed and not), or is refused with a 400 that names it."""

import base64
import json

import numpy as np
import openai
import pytest

pytestmark = pytest.mark.slow
QUESTION = [{"role": "user", "content": "Name three colours."}]
NO_RAG = {"rag": {"enabled": False}}


def create(server, **kwargs):
    kwargs.setdefault("max_tokens", 12)
    extra = {**NO_RAG, **kwargs.pop("extra_body", {})}
    return server.client().chat.completions.create(
        model=server.base_model, messages=kwargs.pop("messages", QUESTION), extra_body=extra, **kwargs
    )


def streamed(server, **kwargs) -> list:
    return list(create(server, stream=True, **kwargs))


def text_of(chunks, index=0) -> str:
    return "".join(
        c.choices[0].delta.content or "" for c in chunks if c.choices and c.choices[0].index == index
    )


def test_penalties_change_the_answer(live_server):
    plain = create(live_server, temperature=0, max_tokens=40, frequency_penalty=0).choices[0].message.content
    for field in ("frequency_penalty", "presence_penalty"):
        penalised = create(live_server, temperature=0, max_tokens=40, **{field: 2.0})
        assert penalised.choices[0].message.content != plain, field
    repeated = create(live_server, temperature=0, max_tokens=40, extra_body={"repetition_penalty": 1.8})
    assert repeated.choices[0].message.content != plain


def test_logprobs_and_top_logprobs(live_server):
    reply = create(live_server, temperature=0, logprobs=True, top_logprobs=3, max_tokens=6)
    tokens = reply.choices[0].logprobs.content
    assert len(tokens) == reply.usage.completion_tokens == 6
    assert "".join(t.token for t in tokens) == reply.choices[0].message.content
    for token in tokens:
        assert token.logprob <= 0 and len(token.top_logprobs) == 3
        assert token.top_logprobs[0].logprob >= token.top_logprobs[-1].logprob
        assert token.logprob == pytest.approx(token.top_logprobs[0].logprob, abs=1e-4)  # greedy: the best one
    chunks = streamed(live_server, temperature=0, logprobs=True, top_logprobs=2, max_tokens=6)
    streamed_tokens = [
        t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content
    ]
    assert [t.token for t in streamed_tokens] == [t.token for t in tokens]
    without = create(live_server, temperature=0, max_tokens=6)
    assert without.choices[0].logprobs is None


def test_n_choices_streamed_and_not(live_server):
    reply = create(live_server, n=3, temperature=1.0, seed=11, max_tokens=10)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert len({c.message.content for c in reply.choices}) > 1  # independent samples
    assert 3 <= reply.usage.completion_tokens <= 30  # the three answers' tokens together
    chunks = streamed(live_server, n=2, temperature=0, max_tokens=8)
    finishes = sorted(c.choices[0].index for c in chunks if c.choices and c.choices[0].finish_reason)
    assert finishes == [0, 1] and text_of(chunks, 0) == text_of(chunks, 1)  # greedy: the same answer twice


def test_seed_makes_sampling_repeatable(live_server):
    answers = {
        create(live_server, temperature=1.0, seed=5, max_tokens=16).choices[0].message.content
        for _ in range(2)
    }
    assert len(answers) == 1


def test_json_object_and_json_schema(live_server):
    reply = create(
        live_server,
        temperature=0,
        max_tokens=60,
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": 'Give a colour and its hex code as JSON with keys "colour" and "hex".'}],
    )
    assert isinstance(json.loads(reply.choices[0].message.content), dict)
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "maxLength": 12}, "count": {"type": "integer"}},
        "required": ["colour", "count"],
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "colour", "schema": schema}}
    for chunks in (
        None,
        streamed(live_server, temperature=0, max_tokens=60, response_format=response_format),
    ):
        if chunks is None:
            content = create(live_server, temperature=0, max_tokens=60, response_format=response_format)
            content = content.choices[0].message.content
        else:
            content = text_of(chunks)
        value = json.loads(content)
        assert set(value) == {"colour", "count"} and isinstance(value["count"], int)


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]


def test_a_forced_tool_call_is_returned_as_tool_calls(live_server):
    named = {"type": "function", "function": {"name": "get_weather"}}
    for tool_choice in (named, "required"):
        reply = create(
            live_server,
            temperature=0,
            max_tokens=60,
            messages=ASK_WEATHER,
            tools=[WEATHER],
            tool_choice=tool_choice,
        )
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        call = choice.message.tool_calls[0]
        assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    chunks = streamed(
        live_server, temperature=0, max_tokens=60, messages=ASK_WEATHER, tools=[WEATHER], tool_choice=named
    )
    calls = [
        call
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
        for call in c.choices[0].delta.tool_calls
    ]
    assert calls[0].function.name == "get_weather" and json.loads(calls[0].function.arguments)["city"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "tool_calls"
    ]


def test_tool_choice_none_answers_in_text(live_server):
    reply = create(live_server, temperature=0, messages=ASK_WEATHER, tools=[WEATHER], tool_choice="none")
    assert reply.choices[0].message.content and not reply.choices[0].message.tool_calls


@pytest.mark.parametrize(
    "fields, param",
    [
        ({"tools": [WEATHER], "tool_choice": "auto"}, "tool_choice"),
        ({"tools": [WEATHER]}, "tool_choice"),  # OpenAI's default with tools is "auto"
        ({"logit_bias": {"50256": -100}}, None),
        ({"top_logprobs": 2}, None),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
    ],
)
def test_what_cannot_be_honoured_is_refused_by_name(live_server, fields, param):
    with pytest.raises(openai.BadRequestError) as caught:
        create(live_server, messages=ASK_WEATHER, **fields)
    error = caught.value.body
    name = param or next(iter(fields))
    assert name in error["message"] or error.get("param", "") and name in error["param"]


def test_user_is_accepted(live_server):
    assert create(live_server, user="customer-42", temperature=0).choices[0].message.content


def test_decoding_defaults_stop_the_small_models_loops(live_server):
    """At temperature 0 the embedded model repeats itself until max_tokens without its default penalty."""
    question = [{"role": "user", "content": "列出三种颜色"}]
    defaults = create(live_server, temperature=0, max_tokens=80, messages=question)
    off = create(live_server, temperature=0, max_tokens=80, messages=question, frequency_penalty=0)
    assert defaults.choices[0].message.content != off.choices[0].message.content


def test_embeddings_from_the_knowledge_bases_embedder(live_server):
    client = live_server.client()
    reply = client.embeddings.create(
        model="all-MiniLM-L6-v2", input=["return a gadget", "refund policy", "drone"]
    )
    vectors = np.array([d.embedding for d in reply.data])
    assert vectors.shape == (3, 384) and reply.usage.prompt_tokens > 0
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # related texts are closer
    packed = client.embeddings.create(model="all-MiniLM-L6-v2", input="drone", encoding_format="base64")
    raw = packed.data[0].embedding
    decoded = np.frombuffer(base64.b64decode(raw), dtype="<f4") if isinstance(raw, str) else np.array(raw)
    assert np.allclose(decoded, vectors[2], atol=1e-5)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="x")
