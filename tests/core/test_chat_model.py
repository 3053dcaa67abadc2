"""The embedded chat model's conversion from GGUF, as replicas starting together meet it."""

import json

import pytest

from core.chat_model import EMBEDDED_CHAT_MODEL, _convert_gguf, embedded_gguf_path

pytestmark = pytest.mark.slow


def test_a_conversion_that_finishes_second_keeps_the_first_and_leaves_no_temp_folder(tmp_path):
    target = tmp_path / EMBEDDED_CHAT_MODEL
    target.mkdir()
    (target / "config.json").write_text(json.dumps({"converted_by": "the other replica"}))
    _convert_gguf(embedded_gguf_path(), target)  # its rename finds the folder the other process made
    assert json.loads((target / "config.json").read_text()) == {"converted_by": "the other replica"}
    assert [p.name for p in tmp_path.iterdir()] == [EMBEDDED_CHAT_MODEL]


def test_a_failed_rename_without_a_model_in_place_is_not_hidden(tmp_path):
    target = tmp_path / EMBEDDED_CHAT_MODEL
    target.mkdir()
    (target / "stray.txt").write_text("not a model")
    with pytest.raises(OSError):
        _convert_gguf(embedded_gguf_path(), target)
