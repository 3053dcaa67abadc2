"""The demo adapter is trained exactly as examples/training/demo-recipe.yaml says, by the commands make runs."""

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from core.errors import RagtuneError
from ragtune import cli_train
from ragtune.demo_adapter import DEMO_RECIPE, cap_declines, load_recipe
from training.data import Conversation
from training.raft import RaftRetriever

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def make_target(name: str) -> list[str]:
    """The command lines of one Makefile target."""
    text = (REPO / "Makefile").read_text()
    body = re.search(rf"^{re.escape(name)}:.*\n((?:\t.*\n)+)", text, re.MULTILINE).group(1)
    return [line.strip() for line in body.splitlines()]


def test_make_trains_the_demo_adapter_from_the_recipe_and_its_collection():
    recipe = yaml.safe_load((REPO / DEMO_RECIPE).read_text())
    for target in ("demo-adapter", "serve", "eval"):
        lines = make_target(target)
        ensure = [line for line in lines if "adapters ensure-demo" in line or "serve --train-demo" in line]
        assert ensure and all("recipe" not in line for line in ensure), target  # the default: the recipe
        assert f"kb sync examples/knowledge --collection {recipe['collection']}" in " ".join(lines), target
    assert any("--retrain" in line for line in make_target("demo-adapter"))


def train_demo(tmp_path, monkeypatch, *args) -> tuple[dict, type]:
    """Run `ragtune adapters ensure-demo ARGS` with training itself replaced: (what training got, its result)."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path))
    monkeypatch.setenv("RAGTUNE_CONFIG", str(tmp_path / "none.yaml"))
    seen = {}

    class Trained:  # what _train returns, enough for ensure-demo to keep the recipe beside the adapter
        output_dir = tmp_path / "adapters" / "demo"

    def fake_train(train, val, *, settings, name, retriever, overwrite, progress_lines):
        seen.update(train=train, val=val, training=settings.training, name=name, retriever=retriever)
        Trained.output_dir.mkdir(parents=True)
        return Trained

    # The half hour of training is tested for real elsewhere.
    monkeypatch.setattr(cli_train, "_train", fake_train)

    def fake_retriever(settings, collection):  # the knowledge base is not opened: training does not run
        return RaftRetriever(kb=None, collection=collection, retrieval=settings.retrieval)

    monkeypatch.setattr(cli_train, "_kb_retriever", fake_retriever)
    result = runner.invoke(cli_train.adapters_app, ["ensure-demo", *args])
    assert result.exit_code == 0, result.output
    return seen, Trained


def test_ensure_demo_trains_with_exactly_the_recipes_settings_and_data(tmp_path, monkeypatch):
    recipe = load_recipe()
    seen, Trained = train_demo(tmp_path, monkeypatch)

    assert seen["name"] == "demo" and seen["retriever"].collection == recipe.collection
    for key, value in recipe.training.items():  # no hidden setting: each value is the recipe's
        assert getattr(seen["training"], key) == value, key
    rows = [json.loads(line) for line in (REPO / recipe.data).read_text().splitlines() if line.strip()]
    answerable = {r["question"] for r in rows if r.get("answerable", True)}
    assert abs(len(seen["val"]) / len(rows) - recipe.training["val_ratio"]) < 0.05
    trained = {s.last_user() for s in seen["train"] + seen["val"]}
    assert answerable <= trained  # every answerable question is used
    unanswerable = [s for s in seen["train"] if s.last_user() not in answerable]
    assert 0 < len(unanswerable) <= recipe.max_decline_share * len(seen["train"])
    held_out = {json.loads(line)["question"] for line in (REPO / "examples/eval/questions.jsonl").open()}
    assert not {s.last_user() for s in seen["train"] + seen["val"]} & held_out  # never the held-out set
    assert (Trained.output_dir / "recipe.yaml").read_text() == recipe.text


def test_a_recipes_faq_files_are_trained_with_their_own_file_as_gold_source(tmp_path, monkeypatch):
    faq_files = ["examples/knowledge/faq.jsonl", "examples/knowledge/faq_zh.csv"]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text((REPO / DEMO_RECIPE).read_text() + "faq:\n" + "".join(f"  - {f}\n" for f in faq_files))
    seen, _ = train_demo(tmp_path, monkeypatch, "--recipe", str(recipe))
    without, _ = train_demo(tmp_path / "plain", monkeypatch)
    faq = [s for s in seen["train"] if s.origin.rsplit(":", 1)[0] in faq_files]
    assert len(faq) == 49 and len(seen["train"]) == len(without["train"]) + 49  # every pair, in training
    assert {s.origin: s.gold_sources for s in faq}["examples/knowledge/faq_zh.csv:2"] == ["faq_zh.csv"]
    assert seen["val"] == without["val"]  # validation stays the data's own split


def test_a_recipe_with_a_setting_training_does_not_have_is_refused(tmp_path):
    bad = tmp_path / "recipe.yaml"
    bad.write_text("data: x.jsonl\ncollection: demo\ntraining:\n  learning_rat: 0.1\n")
    with pytest.raises(RagtuneError, match="learning_rat"):
        load_recipe(bad)


def test_capping_declines_keeps_every_answer_and_a_seeded_share_of_declines():
    def sample(answer):
        return Conversation(
            messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}]
        )

    samples = [sample("Sorry, not in my sources.") for _ in range(30)] + [sample(f"A{i}") for i in range(40)]
    capped = cap_declines(samples, {"Sorry, not in my sources."}, 0.2, seed=1)
    answers = [s.messages[-1]["content"] for s in capped]
    assert sum(a.startswith("A") for a in answers) == 40 and answers.count("Sorry, not in my sources.") == 10
    assert capped == cap_declines(samples, {"Sorry, not in my sources."}, 0.2, seed=1)
