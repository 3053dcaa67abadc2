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


def train_judge(env) -> None:
    """A reward model of the tiny base from pairs of a cited, correct answer over a wrong one, in both
    languages: quick, it need not be good, only trained by `ragtune train reward`."""
    pairs = [
        {"prompt": q["question"], "chosen": "Within 45 days [1].", "rejected": "Never, sorry!!!"}
        for q in QUESTIONS[:3]
    ] + [{"prompt": QUESTIONS[1]["question"], "chosen": "签收后 45 天内 [1]。", "rejected": "不知道！！！"}]
    data = env / "pairs.jsonl"
    data.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    result = runner.invoke(app, ["train", "reward", "--data", str(data), "--name", "judge", "--max-steps", "1"])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_train_rl_adds_a_reward_model_as_a_weighted_part(env, monkeypatch):
    train_judge(env)
    monkeypatch.setenv("RAGTUNE_TRAINING__RL_REWARD_WEIGHTS", json.dumps({"reward_model": 2.0, "language": 1.0}))
    result = runner.invoke(app, ["train", "rl", "--questions", str(env / "questions.jsonl"), "--from", "start",
                                 "--name", "judged", "--reward-model", "judge", "--max-steps", "1"])
    assert result.exit_code == 0, result.output
    assert "reward model 'judge' is the reward_model part, weight 2" in " ".join(result.output.split())
    info = read_adapter_info(env / "home" / "adapters" / "judged")
    assert info.settings["rl_reward_model"] == "judge"
    assert info.settings["rl_reward_weights"] == {"reward_model": 2.0, "language": 1.0}
    state = next((env / "home" / "checkpoints" / "judged").glob("checkpoint-*/trainer_state.json"))
    logged = json.loads(state.read_text(encoding="utf-8"))["log_history"][0]
    judged, language = logged["reward_parts/reward_model"], logged["reward_parts/language"]
    assert 0 < judged < 1  # the reward model's probability for the sampled answers
    assert logged["reward"] == pytest.approx((2 * judged + language) / 3, abs=1e-6)  # each part weighs in


@pytest.mark.parametrize(
    ("weights", "reward_model", "message"),
    [
        ({"reward_model": 1.0}, None, "no reward model is named: add --reward-model NAME"),
        ({"citation": 1.0, "reward_model": 0.0}, "start", "reward_model is 0, so it would not count"),
        ({"citation": 1.0}, "start", "'start' is a sft adapter, not a reward model"),
        ({"citation": 1.0}, "nope", "adapter 'nope': no such adapter folder"),
    ],
)
def test_train_rl_refuses_a_reward_model_it_cannot_use(env, monkeypatch, weights, reward_model, message):
    monkeypatch.setenv("RAGTUNE_TRAINING__RL_REWARD_WEIGHTS", json.dumps(weights))
    args = ["train", "rl", "--questions", str(env / "questions.jsonl"), "--from", "start", "--name", "x"]
    result = runner.invoke(app, args + (["--reward-model", reward_model] if reward_model else []))
    assert result.exit_code != 0 and message in str(result.exception)
    assert not (env / "home" / "adapters" / "x").exists()
