"""`ragtune train kto` and `ragtune train reward` as a user runs them, on the tiny model: KTO on rated answers
(thumbs) from the base and then from that adapter; a reward model from preference pairs that scores a held-out
good answer above a bad one in English and Chinese, listed with the adapters and never served as a chat model."""

import json

import pytest
import torch
import typer
from safetensors.torch import load_file
from typer.testing import CliRunner

from core.adapters import read_adapter_info
from core.chat_model import model_fingerprint
from core.errors import RagtuneError
from ragtune.cli_train import adapters_app, train_app
from training.output import LOSS_CURVE

pytestmark = pytest.mark.slow  # training runs on the tiny model

runner = CliRunner()
app = typer.Typer()  # as ragtune.cli mounts them
app.add_typer(train_app, name="train")
app.add_typer(adapters_app, name="adapters")

PRODUCTS = ["charger", "headset", "speaker", "lamp", "watch", "kettle", "router", "camera"]
GOOD_EN, BAD_EN = (
    "Northwind Gadgets: yes, the {} has a two year warranty [1].",
    "lol no idea!!! ask someone else",
)
GOOD_ZH, BAD_ZH = "Northwind Gadgets：{}保修两年 [1]。", "不知道！！！别问我"
WARRANTY = [
    {"text": "Every Northwind gadget has a two year warranty.", "title": "Warranty", "source": "warranty.md"}
]


def question(product: str, chinese: bool) -> str:
    return f"{product}有保修吗？" if chinese else f"Does the {product} have a warranty?"


def answers(product: str, chinese: bool) -> tuple[str, str]:
    good, bad = (GOOD_ZH, BAD_ZH) if chinese else (GOOD_EN, BAD_EN)
    return good.format(product), bad


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def env(tmp_path, monkeypatch, tiny_model):
    for name, value in {
        "RAGTUNE_HOME": str(tmp_path / "home"),
        "RAGTUNE_CHAT_MODEL": tiny_model,
        "RAGTUNE_CONFIG": str(tmp_path / "none.yaml"),
        "RAGTUNE_TRAINING__LOGGING_STEPS": "1",
        "RAGTUNE_TRAINING__BATCH_SIZE": "4",
        "RAGTUNE_TRAINING__MAX_SEQ_LEN": "256",
        "RAGTUNE_TRAINING__WARMUP_RATIO": "0",
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def rated_answers(path):
    """A thumbs log as `ragtune data export` writes it: each question answered well and badly, some with the
    sources the prompt had, in both languages."""
    records = []
    for index, product in enumerate(PRODUCTS):
        chinese = index % 2 == 1
        good, bad = answers(product, chinese)
        for completion, label in ((good, True), (bad, False)):
            records.append(
                {
                    "messages": [{"role": "user", "content": question(product, chinese)}],
                    "completion": completion,
                    "label": label,
                    "sources": WARRANTY if index % 4 < 2 else None,
                }
            )
    return write_jsonl(path, records)


def test_kto_from_the_base_and_then_from_that_adapter(env):
    data = rated_answers(env / "kto.jsonl")
    first = runner.invoke(
        app, ["train", "kto", "--data", str(data), "--name", "thumbs", "--max-steps", "2", "--progress-lines"]
    )
    assert first.exit_code == 0, first.output
    said = " ".join(first.output.split())  # as read, whatever the terminal's width
    assert "16 rated answers" in said and "8 good, 8 bad" in said
    assert "step 2/2" in said  # progress shown
    folder = env / "home" / "adapters" / "thumbs"
    info = read_adapter_info(folder)
    assert info.method == "kto" and info.settings["kto_from"] is None and (folder / LOSS_CURVE).exists()

    second = runner.invoke(
        app,
        ["train", "kto", "--data", str(data), "--from", "thumbs", "--name", "thumbs-2", "--max-steps", "2"]
        + ["--learning-rate", "0.01"],
    )
    assert second.exit_code == 0, second.output
    before = load_file(folder / "adapter_model.safetensors")
    after = load_file(env / "home" / "adapters" / "thumbs-2" / "adapter_model.safetensors")
    assert after.keys() == before.keys()  # TRL's frozen reference copy is not saved
    assert any(not torch.equal(after[k], before[k]) for k in after)
    assert read_adapter_info(env / "home" / "adapters" / "thumbs-2").settings["kto_from"] == "thumbs"
    listing = runner.invoke(app, ["adapters", "list"]).output
    assert "thumbs-2" in listing and "kto" in listing


def test_kto_data_without_a_true_or_false_label_is_refused_with_file_and_line(env):
    data = write_jsonl(env / "bad.jsonl", [{"prompt": "Hi?", "completion": "Hello.", "label": "yes"}])
    result = runner.invoke(app, ["train", "kto", "--data", str(data), "--name", "nope"])
    assert result.exit_code != 0
    assert isinstance(result.exception, RagtuneError) and f"{data}:1" in str(result.exception)
    assert "true or false" in str(result.exception) and not (env / "home" / "adapters" / "nope").exists()


def test_reward_model_scores_a_held_out_good_answer_above_a_bad_one(env, tiny_model):
    from core.settings import Settings
    from server.runtime import Runtime
    from training.reward_model import RewardModel

    pairs = []
    for index, product in enumerate(PRODUCTS[:-1]):  # the camera is held out
        for chinese in (False, True):
            good, bad = answers(product, chinese)
            pairs.append({"prompt": question(product, chinese), "chosen": good, "rejected": bad})
    data = write_jsonl(env / "pairs.jsonl", pairs)
    result = runner.invoke(
        app,
        [
            "train",
            "reward",
            "--data",
            str(data),
            "--name",
            "judge",
            "--epochs",
            "4",
            "--learning-rate",
            "0.01",
        ],
    )
    assert result.exit_code == 0, result.output
    folder = env / "home" / "adapters" / "judge"
    assert (folder / LOSS_CURVE).exists() and "reward" in runner.invoke(app, ["adapters", "list"]).output

    judge = RewardModel.load(folder, env / "home" / "models")
    for chinese in (False, True):
        good, bad = answers("camera", chinese)
        messages = [{"role": "user", "content": question("camera", chinese)}]
        assert judge.score(messages, good) > judge.score(messages, bad)
    assert 0.5 < judge.probability(messages, good) < 1

    runtime = Runtime(
        settings=Settings(),  # from the environment the env fixture set
        engine=None,
        kb=None,
        model_path=tiny_model,
        model_id="base",
        base_fingerprint=model_fingerprint(tiny_model),
    )
    with pytest.raises(RagtuneError, match="reward model"):  # never served as a chat model
        runtime.check_adapter("judge", folder)


def test_reward_model_from_thumbs_pairs_the_ratings_of_each_prompt(env):
    result = runner.invoke(
        app,
        [
            "train",
            "reward",
            "--data",
            str(rated_answers(env / "kto.jsonl")),
            "--name",
            "j",
            "--max-steps",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "8 preference pairs" in " ".join(result.output.split())  # a good and a bad answer per question
    assert read_adapter_info(env / "home" / "adapters" / "j").settings["pairs"] == 8
