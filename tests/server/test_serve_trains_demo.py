"""`ragtune serve --train-demo` (what `make serve` runs) answers with the base model at once and serves the
demo adapter once it has been trained in the background. A tiny recipe (a few steps on eight questions)
stands in for the demo's own."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.process import free_port, server_process
from tests.server.conftest import DOCS

pytestmark = pytest.mark.slow

QUESTIONS = [
    ("How long do I have to return a gadget?", "45 days, for a full refund.", "returns.md"),
    ("What do I ship back with a return?", "The gadget with its receipt.", "returns.md"),
    ("Can I get my money back for a gadget?", "Yes: a full refund within 45 days.", "returns.md"),
    ("How fast do you ship an order?", "Within 2 working days.", "shipping.md"),
    ("What does express delivery cost?", "9 euros.", "shipping.md"),
    ("When will my order leave the warehouse?", "Within 2 working days.", "shipping.md"),
    ("退货期限是多久？", "45 天内可全额退款。", "returns.md"),
    ("加急配送多少钱？", "9 欧元。", "shipping.md"),
]


def tiny_recipe(folder: Path) -> Path:
    data = folder / "questions.jsonl"
    rows = [
        {"question": q, "reference_answer": a, "gold_sources": [gold], "answerable": True}
        for q, a, gold in QUESTIONS
    ]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    recipe = folder / "recipe.yaml"
    training = {
        "lora_r": 8,
        "max_steps": 4,
        "batch_size": 2,
        "max_seq_len": 768,
        "val_ratio": 0.25,
        "eval_steps": 4,
    }
    recipe.write_text(json.dumps({"data": str(data), "collection": "demo", "training": training}))
    return recipe


def test_the_server_answers_while_the_demo_adapter_trains_and_serves_it_when_ready(tmp_path, chat_model_path):
    home, docs = tmp_path / "home", tmp_path / "docs"
    (home / "models").parent.mkdir()
    (home / "models").symlink_to(Path(chat_model_path).parent)
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "RAGTUNE_CHAT_MODEL": chat_model_path,
        "RAGTUNE_ENGINE__MAX_MODEL_LEN": "2048",
        "RAGTUNE_ENGINE__KV_CACHE_SPACE_GIB": "1",
    }
    ragtune = shutil.which("ragtune", path=str(Path(sys.executable).parent)) or "ragtune"
    subprocess.run([ragtune, "kb", "sync", str(docs), "--collection", "demo"], env=env, check=True)
    port, recipe = free_port(), tiny_recipe(tmp_path)
    command = [ragtune, "serve", "--port", str(port), "--train-demo", "--demo-recipe", str(recipe)]
    url, log = f"http://127.0.0.1:{port}", tmp_path / "server.log"

    serving = server_process(command, env, log, f"{url}/readyz", name="ragtune serve --train-demo")
    with serving, httpx.Client(base_url=url, timeout=120) as http:
        models = [card["id"] for card in http.get("/v1/models").json()["data"]]
        assert "demo" not in models

        early = http.post("/v1/chat/completions", json=chat("demo"))
        assert early.status_code == 503, early.text
        assert early.json()["error"]["code"] == "model_in_training"
        assert "being trained in the background" in early.json()["error"]["message"]

        answer = http.post("/v1/chat/completions", json=chat(models[0]))
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"].strip()
        models = [card["id"] for card in http.get("/v1/models").json()["data"]]
        assert "demo" not in models  # the answer came while the adapter was still training

        deadline = time.monotonic() + 900
        while "demo" not in models and time.monotonic() < deadline:
            assert "training failed" not in log.read_text(), log.read_text()[-3000:]
            time.sleep(5)
            models = [card["id"] for card in http.get("/v1/models").json()["data"]]
        assert "demo" in models, log.read_text()[-3000:]

        tuned = http.post("/v1/chat/completions", json=chat("demo"))
        assert tuned.status_code == 200, tuned.text
        assert tuned.json()["model"] == "demo"

    text = log.read_text()
    assert "[demo training] step 4/4 (100 %)" in text, text[-5000:]
    assert "adapter 'demo' trained and loaded" in text
    assert (home / "adapters" / "demo" / "recipe.yaml").read_text() == recipe.read_text()


def chat(model: str) -> dict:
    question = "How long do I have to return a gadget?"
    return {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": 32}
