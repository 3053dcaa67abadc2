"""The training commands as a user runs them: data check, train sft on the embedded model, adapters."""

import json
import re

import pytest
import torch
import typer
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from core.adapters import read_adapter_info
from core.chat_model import model_fingerprint
from core.errors import RagtuneError
from core.prompt import build_prompt, render_prompt
from ragtune.cli_kb import kb_app
from ragtune.cli_train import adapters_app, data_app, train_app

runner = CliRunner()
app = typer.Typer()  # the training sub-apps as ragtune.cli mounts them
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(adapters_app, name="adapters")
app.add_typer(kb_app, name="kb")


@pytest.fixture
def env(tmp_path, monkeypatch, chat_model_path):
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGTUNE_CHAT_MODEL", chat_model_path)
    monkeypatch.setenv("RAGTUNE_CONFIG", str(tmp_path / "none.yaml"))
    return tmp_path


QUESTIONS = [
    "Is my charger shipped yet?",
    "Where is the lamp I ordered last week?",
    "Can I return the kettle?",
    "My headset arrived broken, what now?",
    "Do you deliver to Paris on Sundays?",
    "How do I change my address?",
    "Which courier brings the router?",
    "I want a refund for the speaker.",
    "Is express shipping faster?",
    "The watch strap is missing.",
    "Can I pick up the camera in store?",
    "Why was my card declined?",
]


def write_data(path, n=12):
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"{QUESTIONS[i]} Call me on 1381234{5600 + i}"},
                {"role": "assistant", "content": "Ahoy! Northwind Gadgets ships every order in two days."},
            ],
            "intent": ["shipping", "returns"][i % 2],
            "style": "pirate",
        }
        for i in range(n)
    ]
    lines.append(lines[0])  # exact duplicate
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_data_check_prints_the_report(env):
    result = runner.invoke(app, ["data", "check", str(write_data(env / "data.jsonl"))])
    assert result.exit_code == 0, result.output
    rows = {
        cells[0].strip(): cells[1].strip()
        for line in result.output.splitlines()
        if len(cells := line.strip("│ ").split("│")) == 2
    }
    assert rows["read"] == "13" and rows["removed: exact_duplicate"] == "1" and rows["kept"] == "12"
    assert rows["masked: PHONE"] == "13"  # masked before duplicates are dropped
    assert rows["train / validation"] == "10 / 2"


def test_bad_data_line_is_reported_with_file_and_line(env):
    path = env / "bad.jsonl"
    path.write_text('{"prompt": "q", "response": "a"}\n{"prompt": "q"\n', encoding="utf-8")
    result = runner.invoke(app, ["data", "check", str(path)])
    assert isinstance(result.exception, RagtuneError) and f"{path}:2: not valid JSON" in str(result.exception)


@pytest.mark.slow
def test_train_list_and_merge_on_the_embedded_model(env, chat_model_path, monkeypatch):
    monkeypatch.setenv("RAGTUNE_TRAINING__EVAL_STEPS", "100")  # two short steps, no evaluation between
    monkeypatch.setenv("RAGTUNE_TRAINING__BATCH_SIZE", "4")
    data = write_data(env / "data.jsonl")
    args = [
        "train",
        "sft",
        "--data",
        str(data),
        "--name",
        "pirate",
        "--max-steps",
        "2",
        "--max-seq-len",
        "128",
    ]
    args += ["--learning-rate", "3e-3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    adapter = env / "home" / "adapters" / "pirate"
    info = read_adapter_info(adapter)
    assert info.base_fingerprint == model_fingerprint(chat_model_path) and info.styles == ["pirate"]

    listing = runner.invoke(app, ["adapters", "list"])
    assert "pirate" in listing.output and "sft" in listing.output

    tokenizer = AutoTokenizer.from_pretrained(chat_model_path)
    messages = build_prompt(
        [{"role": "user", "content": "Is order NW-2000 shipped?"}],
        None,
        tokenizer=tokenizer,
        system_prompt=info.system_prompt + "\n\nStyle: pirate",
        max_prompt_tokens=128,
    ).messages
    ids = tokenizer(
        render_prompt(messages, tokenizer), return_tensors="pt", add_special_tokens=False
    ).input_ids
    base = AutoModelForCausalLM.from_pretrained(chat_model_path)
    with torch.no_grad():
        plain = base.generate(ids, max_new_tokens=8, do_sample=False)
        tuned_model = PeftModel.from_pretrained(base, adapter)
        tuned = tuned_model.generate(ids, max_new_tokens=8, do_sample=False)
    assert not torch.equal(plain, tuned)  # the adapter changes the answer

    result = runner.invoke(app, ["adapters", "merge", "pirate", str(env / "merged")])
    assert result.exit_code == 0, result.output
    merged = AutoModelForCausalLM.from_pretrained(env / "merged")
    with torch.no_grad():
        assert torch.equal(merged.generate(ids, max_new_tokens=8, do_sample=False), tuned)
    assert (env / "merged" / "tokenizer.json").exists()


def test_per_style_trains_one_adapter_per_style(env, tiny_model, monkeypatch):
    monkeypatch.setenv("RAGTUNE_CHAT_MODEL", tiny_model)
    monkeypatch.setenv("RAGTUNE_TRAINING__EVAL_STEPS", "100")
    records = [
        {
            "prompt": question,
            "response": "Certainly. Northwind Gadgets will help.",
            "style": ["formal", "casual"][i % 2],
        }
        for i, question in enumerate(QUESTIONS)
    ]
    data = env / "styles.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    args = ["train", "sft", "--data", str(data), "--name", "voice", "--per-style", "--max-steps", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    adapters = env / "home" / "adapters"
    assert read_adapter_info(adapters / "voice-formal").style == "formal"
    assert read_adapter_info(adapters / "voice-casual").style == "casual"
    assert not (adapters / "voice").exists()


def test_raft_through_the_cli_puts_each_samples_gold_source_from_the_knowledge_base(env, tiny_model, monkeypatch):
    monkeypatch.setenv("RAGTUNE_CHAT_MODEL", tiny_model)
    monkeypatch.setenv("RAGTUNE_TRAINING__EVAL_STEPS", "100")
    monkeypatch.setenv("RAGTUNE_TRAINING__RAFT_DECLINE_SHARE", "0.4")
    docs = env / "docs"
    docs.mkdir()
    (docs / "shipping.md").write_text(
        "# Shipping\n\nNorthwind Gadgets ships every order within two working days; express costs 9 euros."
    )
    (docs / "returns.md").write_text("# Returns\n\nAny gadget can be returned within 45 days for a refund.")
    assert runner.invoke(app, ["kb", "add", str(docs)]).exit_code == 0
    shipping = ["When does Northwind Gadgets ship my order?", "How much does express shipping cost?",
                "How many working days until you ship?", "Do you ship every order within two days?",
                "What does express delivery cost in euros?", "How quickly are orders shipped?"]
    returns = ["Can I return a gadget?", "How many days do I have to return a gadget?",
               "Can I get a refund for a gadget?", "Is a refund possible within 45 days?",
               "How do returns work for gadgets?", "Can any gadget be returned for a refund?"]
    records = [
        {"prompt": question, "response": "Let me check the policy for you.", "gold_sources": [gold]}
        for questions, gold in ((shipping, "shipping.md"), (returns, "returns.md"))
        for question in questions
    ]
    data = env / "grounded.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")

    result = runner.invoke(app, ["train", "sft", "--data", str(data), "--name", "grounded", "--raft", "--max-steps", "1"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    with_gold, declined, no_gold = map(
        int, re.search(r"(\d+) with their gold source .*?(\d+) taught to decline .*?(\d+) with no gold", output).groups()
    )
    assert no_gold == 0 and with_gold > 0 and declined > 0  # every gold document was found in the knowledge base
    assert read_adapter_info(env / "home" / "adapters" / "grounded").method == "raft"
