"""`ragtune train rl` as a user runs it, on the tiny model: from an adapter, on a question set and the
knowledge base, to a new adapter listed with the others, with its loss and reward curves."""

import json

import pytest
import typer
from typer.testing import CliRunner

from core.adapters import read_adapter_info
from ragtune.cli_kb import kb_app
from ragtune.cli_rl import train_rl_command
from ragtune.cli_train import adapters_app, train_app

runner = CliRunner()
app = typer.Typer()  # as ragtune.cli mounts them
app.add_typer(train_app, name="train")
app.add_typer(adapters_app, name="adapters")
app.add_typer(kb_app, name="kb")
train_app.command("rl")(train_rl_command)

QUESTIONS = [
    {"question": "How many days do I have to return a gadget?", "gold_sources": ["returns.md"],
     "key_facts": ["45 days"]},
    {"question": "退货期限是多少天？", "gold_sources": ["returns.md"], "key_facts": ["45 天"]},
    {"question": "How much does express shipping cost?", "gold_sources": ["shipping.md"], "key_facts": ["9 euros"]},
    {"question": "Can I rent a submarine for my holiday?", "answerable": False},
]


@pytest.fixture
def env(tmp_path, monkeypatch, tiny_model):
    for name, value in {
        "RAGTUNE_HOME": str(tmp_path / "home"),
        "RAGTUNE_CHAT_MODEL": tiny_model,
        "RAGTUNE_CONFIG": str(tmp_path / "none.yaml"),
        "RAGTUNE_ENGINE__MAX_MODEL_LEN": "1024",  # the tiny model's context
        "RAGTUNE_TRAINING__EVAL_STEPS": "100",
        "RAGTUNE_TRAINING__LOGGING_STEPS": "1",
        "RAGTUNE_TRAINING__RL_GENERATIONS": "2",
        "RAGTUNE_TRAINING__RL_MAX_COMPLETION_TOKENS": "12",
    }.items():
        monkeypatch.setenv(name, value)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "shipping.md").write_text("# Shipping\n\nNorthwind ships every order within two days; express costs 9 euros.")
    (docs / "returns.md").write_text(
        "# Returns\n\nAny gadget can be returned within 45 days for a refund.\n\n商品签收后 45 天内可以退货并退款。"
    )
    assert runner.invoke(app, ["kb", "add", str(docs)]).exit_code == 0
    data = tmp_path / "start.jsonl"
    data.write_text(
        "\n".join(json.dumps({"prompt": q["question"], "response": "Within 45 days [1]."}) for q in QUESTIONS) + "\n"
    )
    result = runner.invoke(app, ["train", "sft", "--data", str(data), "--name", "start", "--max-steps", "1"])
    assert result.exit_code == 0, result.output
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS) + "\n", encoding="utf-8")
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_train_rl_writes_an_adapter_with_its_reward_curve(env, algorithm):
    args = ["train", "rl", "--questions", str(env / "questions.jsonl"), "--from", "start", "--name", "tuned",
            "--algorithm", algorithm, "--max-steps", "2", "--progress-lines"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "step 2/2 (100 %)" in output and ", reward " in output  # progress with the mean reward
    assert f"after 2 steps ({algorithm})" in output
    folder = env / "home" / "adapters" / "tuned"
    info = read_adapter_info(folder)
    assert info.method == f"rl-{algorithm}" and info.settings["rl_from"] == "start"
    assert info.system_prompt == read_adapter_info(env / "home" / "adapters" / "start").system_prompt
    assert (folder / "reward_curve.png").stat().st_size > 0 and (folder / "loss_curve.png").exists()
    assert (folder / "adapter_model.safetensors").exists()
    listed = runner.invoke(app, ["adapters", "list"])
    assert "tuned" in listed.output and f"rl-{algorithm}" in listed.output

    again = runner.invoke(app, args)  # an adapter is never replaced unasked
    assert again.exit_code != 0 and "already exists" in str(again.exception)


def test_train_rl_from_a_missing_adapter_says_which(env):
    result = runner.invoke(
        app, ["train", "rl", "--questions", str(env / "questions.jsonl"), "--from", "nope", "--name", "x"]
    )
    assert result.exit_code != 0 and "no adapter named 'nope'" in str(result.exception)
