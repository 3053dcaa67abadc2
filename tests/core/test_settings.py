import pytest
from pydantic import ValidationError

from core.settings import PiiSettings, RetrievalSettings, Settings, TrainingSettings


def test_env_and_yaml_settings(tmp_path, monkeypatch):
    config = tmp_path / "ragtune.yaml"
    config.write_text("retrieval:\n  top_k: 9\nserver:\n  port: 9001\n")
    monkeypatch.setenv("RAGTUNE_CONFIG", str(config))
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("RAGTUNE_SERVER__PORT", "9002")  # env wins over the file
    settings = Settings()
    assert settings.retrieval.top_k == 9
    assert settings.server.port == 9002
    assert settings.kb_dir == tmp_path / "h" / "kb"


def test_every_setting_is_described():
    """Fields by their description, sections by their class docstring (docs/settings.md shows both)."""
    undescribed = []

    def walk(model, prefix=""):
        for name, info in model.model_fields.items():
            annotation = info.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                if not annotation.__doc__:
                    undescribed.append(prefix + name)
                walk(annotation, f"{prefix}{name}.")
            elif not info.description:
                undescribed.append(prefix + name)

    walk(Settings)
    assert undescribed == []


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("RAGTUNE_RETRIEVAL__TOP_K", "0", "retrieval.top_k"),
        ("RAGTUNE_RETRIEVAL__INDEX_TYPE", "ivf", "retrieval.index_type"),
        ("RAGTUNE_TRAINING__LORA_DROPOUT", "1.5", "training.lora_dropout"),
        ("RAGTUNE_RAILS__GROUNDING__ANSWER_CHECK", "maybe", "rails.grounding.answer_check"),
        ("RAGTUNE_SERVER__PORT", "70000", "server.port"),
    ],
)
def test_a_value_out_of_range_is_refused_naming_the_field(tmp_path, monkeypatch, variable, value, named):
    monkeypatch.setenv("RAGTUNE_CONFIG", str(tmp_path / "none.yaml"))
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as err:
        Settings()
    assert [".".join(map(str, e["loc"])) for e in err.value.errors()] == [named]


def test_chunk_overlap_must_be_shorter_than_a_chunk():
    with pytest.raises(ValidationError, match=r"chunk_overlap \(64\) must be less than chunk_tokens \(64\)"):
        RetrievalSettings(chunk_tokens=64, chunk_overlap=64)


def test_a_renamed_setting_in_the_file_names_its_new_name(tmp_path, monkeypatch):
    config = tmp_path / "ragtune.yaml"
    config.write_text("training:\n  mask_pii: false\n")
    monkeypatch.setenv("RAGTUNE_CONFIG", str(config))
    with pytest.raises(ValidationError, match=r"training\.mask_pii .* renamed: use pii\.mask_in_training"):
        Settings()


def test_personal_data_settings_are_one_section(monkeypatch):
    monkeypatch.setenv("RAGTUNE_PII__KEEP", '["support@northwind.example"]')
    monkeypatch.setenv("RAGTUNE_PII__MASK_IN_LOG", "false")
    settings = Settings()
    assert settings.pii == PiiSettings(keep=["support@northwind.example"], mask_in_log=False)
    assert not {"pii_keep", "mask_pii"} & set(TrainingSettings.model_fields)
