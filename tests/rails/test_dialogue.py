"""Conversational turns (rails/dialogue.py) on labelled turns, zh and en: examples/eval/dialogue_turns.jsonl
(written with the rules) and dialogue_turns_heldout.jsonl (written blind to them). A greeting, thanks or vague
opener gets its act; a question, even one that opens with "hi", never does."""

import json
from pathlib import Path

import pytest

from core.language import detect_language
from core.settings import RailsSettings
from rails import Rails
from rails.dialogue import DialogueDetector

EVAL = Path(__file__).resolve().parents[2] / "examples" / "eval"


def rows_of(name: str) -> list[dict]:
    lines = (EVAL / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("name", ["dialogue_turns.jsonl", "dialogue_turns_heldout.jsonl"])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_labelled_turns_get_their_act_and_questions_stay_questions(name, language):
    detector = DialogueDetector()
    rows = [row for row in rows_of(name) if detect_language(row["text"]) == language]
    got = {row["text"]: (turn.act if (turn := detector.detect(row["text"])) else None) for row in rows}
    questions_taken = [row["text"] for row in rows if row["act"] is None and got[row["text"]] is not None]
    assert not questions_taken  # a question answered with small talk is the costly mistake
    wrong = [(row["text"], row["act"], got[row["text"]]) for row in rows if got[row["text"]] != row["act"]]
    assert len(wrong) <= 0.05 * len(rows), wrong
    assert sum(row["act"] is not None for row in rows) >= 25 and sum(row["act"] is None for row in rows) >= 15


def test_the_reply_comes_in_the_turns_language_and_operators_can_reword_it():
    rails = Rails(RailsSettings(texts={"en": {"greeting": "Welcome to Northwind! What can we do for you?"}}))
    assert rails.dialogue("Hello!").act == "greeting"
    assert rails.texts.get("greeting", "en") == "Welcome to Northwind! What can we do for you?"
    assert "您好" in rails.texts.get("greeting", "zh")
    assert rails.texts.get("clarify", "zh") != rails.texts.get("clarify", "en")


def test_it_can_be_turned_off():
    assert Rails(RailsSettings(dialogue_enabled=False)).dialogue("hi") is None
