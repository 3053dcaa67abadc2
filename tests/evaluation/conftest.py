"""A tiny OpenAI-shaped chat server for evaluation tests: the model is the edge being replaced, the
evaluation talks to it over real HTTP with the openai client, exactly as it talks to ragtune's server.

Its behaviour is scripted so the tests know what the report must show: "demo" with RAG answers from the
cited document and marks it [1]; "demo" without RAG refuses; "base" answers a pleasantry; questions that
match no document get no citations; everyday (general) questions get the same right answer from both.
Retrieval reads every user turn of a conversation, so a follow-up finds what an earlier turn named. Each
request body is kept in REQUESTS, and GET /v1/models lists DECODING for both models."""

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from core.process import free_port

DOCS = [
    {"file": "returns.md", "keywords": ["return"],
     "text": "Northwind Gadgets accepts returns within 30 days of delivery with the original receipt."},
    {"file": "warranty.md", "keywords": ["warranty"],
     "text": "Every Northwind speaker has a two year warranty covering manufacturing defects."},
    {"file": "shipping/zh.md", "keywords": ["发货"], "text": "北风小工具的订单通常在三个工作日内发货。"},
]
QUESTIONS = [
    {"question": "How many days do I have to return a product?", "gold_sources": ["returns.md"],
     "reference_answer": "You can return products within 30 days of delivery with the original receipt.",
     "key_facts": ["30 days"]},
    {"question": "How long is the warranty on speakers?", "gold_sources": ["warranty.md"],
     "reference_answer": "Speakers have a two year warranty covering manufacturing defects.",
     "key_facts": ["2 years"]},
    {"question": "订单多久发货？", "gold_sources": ["shipping/zh.md"],
     "reference_answer": "订单通常在三个工作日内发货。", "key_facts": ["3 个工作日"]},
    {"question": "Do you sell electric cars?", "answerable": False,
     "reference_answer": "I'm sorry, I don't have that information."},
]
CONVERSATIONS = [
    {"id": "return-days", "language": "en", "kind": "ellipsis", "messages": [
        {"role": "user", "content": "I want to return my speaker."},
        {"role": "assistant", "content": "Sure, I can help you with a return."},
        {"role": "user", "content": "How many days do I have?"}],
     "standalone_question": "How many days do I have to return my speaker?", "gold_sources": ["returns.md"],
     "reference_answer": "You can return it within 30 days of delivery.", "key_facts": ["30 days"]},
    {"id": "zh-shipping", "language": "zh", "kind": "pronoun", "messages": [
        {"role": "user", "content": "我想问一下发货的事。"},
        {"role": "assistant", "content": "好的，请问您想了解什么？"},
        {"role": "user", "content": "要多久？"}],
     "standalone_question": "订单多久发货？", "gold_sources": ["shipping/zh.md"],
     "reference_answer": "订单通常在三个工作日内发货。", "key_facts": ["三个工作日"]},
]
GENERAL = {"What is the capital of France?": "The capital of France is Paris."}
DECODING = {"temperature": 0.0, "top_p": 1.0, "frequency_penalty": 0.5, "presence_penalty": 0.0,
            "repetition_penalty": 1.0}
REQUESTS: list[dict] = []  # every chat request body the scripted server received
GENERAL_QUESTIONS = [{"question": q, "reference_answer": a} for q, a in GENERAL.items()]
REFUSAL = "I'm sorry, I don't have that information."
PLEASANTRY = "Thank you for contacting Northwind Gadgets, we value your business."


def citations_for(text: str, top_k: int) -> list[dict]:
    hits = [d for d in DOCS if any(k in text.lower() for k in d["keywords"])][:top_k]
    return [{"source": f"/srv/examples/knowledge/{d['file']}", "title": d["file"], "document_id": d["file"],
             "chunk_id": f"{d['file']}#0", "score": 0.9, "snippet": d["text"]} for d in hits]


def scripted_answer(model: str, question: str, citations: list[dict], rag: bool) -> str:
    if question in GENERAL:
        return GENERAL[question]
    if model == "base":
        return PLEASANTRY
    if rag and citations:
        return f"{citations[0]['snippet']} [1]"
    return REFUSAL


def judge_reply(user_turn: str) -> str:
    good = "[1]" in user_turn.split("Assistant's answer:")[-1]
    return json.dumps({"correctness": 5 if good else 2, "helpfulness": 4 if good else 2, "style": 4})


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [
            {"id": "base", "object": "model", "owned_by": "test", "decoding": DECODING},
            {"id": "demo", "object": "model", "owned_by": "test", "parent": "base", "decoding": DECODING},
        ]}

    @app.post("/v1/chat/completions")
    def chat(body: dict) -> dict:
        REQUESTS.append(body)
        messages = body["messages"]
        rag = body.get("rag") or {}
        question = messages[-1]["content"]
        citations, finish = [], "stop"
        if messages[0]["role"] == "system" and messages[0]["content"].startswith("You grade"):
            answer = judge_reply(question)
        else:
            rag_on = rag.get("enabled", True)
            asked = " ".join(m["content"] for m in messages if m["role"] == "user")
            citations = citations_for(asked, rag.get("top_k", 5)) if rag_on else []
            answer = scripted_answer(body["model"], question, citations, rag_on)
            finish = "length" if body["model"] == "demo" and not rag_on else "stop"  # demo alone runs on
        return {
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(answer.split()),
                      "total_tokens": 10 + len(answer.split())},
            "citations": citations,
        }

    return app


@pytest.fixture(scope="session")
def fake_server() -> Iterator[str]:
    """Base URL (…/v1) of the scripted server, running in a thread for the session."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(100):
        try:
            httpx.get(f"{url}/models", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def write_jsonl(path, records: list[dict]):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def conversation_file(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("conversations") / "conversations.jsonl", CONVERSATIONS)


@pytest.fixture(scope="session")
def question_files(tmp_path_factory):
    """(held-out questions, general questions) files for the scripted server."""
    folder = tmp_path_factory.mktemp("questions")
    return write_jsonl(folder / "questions.jsonl", QUESTIONS), write_jsonl(folder / "general.jsonl", GENERAL_QUESTIONS)


def evaluate_with(settings, *args, **options) -> dict:
    """evaluation.evaluate.evaluate with a Settings object's sections, as `ragtune eval` passes them."""
    from evaluation.evaluate import evaluate

    return evaluate(settings.evaluation, *args, top_k=settings.retrieval.top_k,
                    embedding_model=settings.retrieval.embedding_model, **options)
