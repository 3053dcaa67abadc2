"""Export: the files load as they are in `ragtune train sft` / `train dpo`, personal data stays masked."""

import json

import pytest
from typer.testing import CliRunner

from core.settings import PiiSettings, TrainingSettings
from feedback.export import ExportFilter
from ragtune.cli import app
from tests.feedback.conftest import chat, feedback_service
from training.data import load_conversations, load_preferences
from training.pipeline import prepare_data

QUESTION = [{"role": "user", "content": "My mail is jane.doe@example.com. How do I reset the router?"}]


def fill(service) -> None:
    """A day of feedback: thumbs, a correction, a compare-page preference, and things that teach nothing."""
    rows = [
        chat("up-1", messages=QUESTION, answer="Hold the reset button for ten seconds [1]."),
        chat("up-1-again", messages=QUESTION, answer="Hold the reset button for ten seconds [1]."),
        chat(
            "down-fixed",
            messages=[{"role": "user", "content": "What is the warranty?"}],
            answer="One year.",
            sources=[
                {"source": "policies/warranty.md", "title": "Warranty"},
                {"source": "faq.jsonl", "title": "FAQ"},
            ],
        ),
        chat("down-plain", answer="No idea."),
        chat("left", model="base", collection=None, answer="Unplug it and plug it in again."),
        chat("right", model="support-v2", collection=None),
        chat(
            "tools",
            messages=[
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "Status of order 42?"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "t"}]},
                {"role": "tool", "content": "shipped"},
                {"role": "user", "content": "And when does it arrive?"},
            ],
            answer="Tomorrow, call 13812345678 if not.",
        ),
    ]
    for row in rows:
        service.record(row)
    service.add_feedback("up-1", "up")
    service.add_feedback("up-1-again", "up")
    service.add_feedback("down-fixed", "down", corrected_answer="Two years from the date of purchase [1].")
    service.add_feedback("down-plain", "down", reason="useless")
    service.add_feedback("right", "up", preferred_over="left")
    service.add_feedback("tools", "up")


@pytest.fixture
def service(tmp_path):
    service = feedback_service(tmp_path / "home").start()
    fill(service)
    yield service
    service.close()


def test_export_writes_files_training_reads(service, tmp_path):
    result = service.export(tmp_path / "out")
    samples = {s.id: s for s in load_conversations(tmp_path / "out" / "sft.jsonl")}
    pairs = load_preferences(tmp_path / "out" / "dpo.jsonl")

    assert set(samples) == {"up-1", "down-fixed", "right", "tools"}  # the repeat is deduplicated
    assert samples["down-fixed"].messages[-1]["content"] == "Two years from the date of purchase [1]."
    assert samples["down-fixed"].gold_sources == ["policies/warranty.md"]  # the source the answer cites
    assert samples["right"].gold_sources == ["manuals/router.md"]
    assert [m["role"] for m in samples["tools"].messages] == ["system", "user", "user", "assistant"]
    assert {(p.chosen, p.rejected) for p in pairs} == {
        ("Two years from the date of purchase [1].", "One year."),
        ("Hold the reset button for ten seconds [1].", "Unplug it and plug it in again."),
    }
    assert pairs[0].prompt[-1]["role"] == "user"
    assert (result.sft, result.dpo) == (4, 2)
    assert result.skipped == {"down_without_correction": 1}
    exported = tmp_path / "out" / "sft.jsonl"
    assert prepare_data(exported, TrainingSettings(val_ratio=0.0), pii=PiiSettings()).train


def test_personal_data_stays_masked(service, tmp_path):
    service.export(tmp_path / "out")
    text = (tmp_path / "out" / "sft.jsonl").read_text() + (tmp_path / "out" / "dpo.jsonl").read_text()
    assert "jane.doe" not in text and "13812345678" not in text
    assert "[EMAIL]" in text and "[PHONE]" in text


def test_filters_pick_the_feedback(service, tmp_path):
    result = service.export(tmp_path / "down", ExportFilter(rating="down"))
    assert (result.sft, result.dpo, sorted(result.files)) == (1, 1, ["dpo.jsonl", "sft.jsonl"])
    result = service.export(tmp_path / "collection", ExportFilter(collection="support", rating="up"))
    assert (result.sft, result.dpo, sorted(result.files)) == (2, 0, ["sft.jsonl"])
    result = service.export(tmp_path / "none", ExportFilter(model="nobody"))
    assert (result.sft, result.dpo, result.files) == (0, 0, {})


def test_cli_data_export(service, tmp_path, monkeypatch):
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    service.log.flush()
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app, ["data", "export", "--out", str(out), "--since", "2000-01-01", "--rating", "up"]
    )
    assert result.exit_code == 0, result.output
    assert "3 SFT samples, 1 DPO pairs" in result.output
    assert json.loads((out / "export.json").read_text())["sft"] == 3
    bad = CliRunner().invoke(app, ["data", "export", "--out", str(out), "--since", "yesterday"])
    assert bad.exit_code != 0 and "not an ISO date" in str(bad.exception)


def test_thumbs_on_generated_answers_export_as_kto_examples_with_their_prompts(tmp_path):
    """Every thumbs up or down on a generated answer becomes a rated answer for `ragtune train kto`, in
    either language, with the sources, system prompt and style its prompt was built from; personal data in
    the conversation stays masked, the sources stay as the prompt had them; preset answers teach nothing."""
    from training.data import load_kto

    router = {
        "text": "Hold the reset button for ten seconds.",
        "title": "Router",
        "source": "manuals/router.md",
    }
    zh_source = {
        "text": "按住重置键十秒即可恢复出厂设置。",
        "title": "路由器",
        "source": "manuals/router-zh.md",
    }
    system = "You are Northwind's assistant."
    rows = [
        chat(
            "en-up",
            messages=QUESTION,
            prompt={"system_prompt": system, "style": "brief", "sources": [router]},
        ),
        chat(
            "en-up-again",
            messages=QUESTION,
            prompt={"system_prompt": system, "style": "brief", "sources": [router]},
        ),
        chat(
            "zh-down",
            messages=[{"role": "user", "content": "路由器怎么重置？我的电话是13812345678"}],
            answer="请联系客服。",
            prompt={"system_prompt": system, "style": None, "sources": [zh_source]},
        ),
        chat(
            "rag-off-down",
            collection=None,
            answer="No idea.",
            prompt={"system_prompt": system, "style": None, "sources": None},
        ),
        chat("fallback-down", answer="I don't have that information."),  # not generated: no prompt logged
    ]
    service = feedback_service(tmp_path / "home").start()
    try:
        for row in rows:
            service.record(row)
        for response_id, rating in [
            ("en-up", "up"),
            ("en-up-again", "up"),
            ("zh-down", "down"),
            ("rag-off-down", "down"),
            ("fallback-down", "down"),
        ]:
            service.add_feedback(response_id, rating)
        result = service.export(tmp_path / "out")
    finally:
        service.close()

    examples = load_kto(tmp_path / "out" / "kto.jsonl")
    by_answer = {e.completion: e for e in examples}
    assert result.kto == 3 and len(examples) == 3  # the repeat is dropped, the fallback is not an example
    assert result.skipped == {"duplicate_rated_answer": 1, "down_without_correction": 1}
    english, chinese = by_answer["Hold the reset button for ten seconds [1]."], by_answer["请联系客服。"]
    assert english.label is True and chinese.label is False and by_answer["No idea."].label is False
    assert [vars(s) for s in english.sources] == [router] and [vars(s) for s in chinese.sources] == [
        zh_source
    ]
    assert by_answer["No idea."].sources is None  # RAG was off: no sources, not an empty list
    assert english.system_prompt == system and english.style == "brief"
    assert "[EMAIL]" in english.prompt[-1]["content"] and "[PHONE]" in chinese.prompt[-1]["content"]
