"""`ragtune settings`: effective values with their source, secrets masked, bad values named; the settings
reference docs/settings.md generated from the fields and kept current."""

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import RagtuneError
from ragtune.cli import app
from ragtune.cli_settings import markdown, sources

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No RAGTUNE_ variable from the caller's shell, and a settings file of the test's own."""
    for name in [n for n in os.environ if n.upper().startswith("RAGTUNE_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "ragtune.yaml"
    monkeypatch.setenv("RAGTUNE_CONFIG", str(config))
    return config


def printed(env: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """`ragtune settings` output as {dotted name: (value, source)}."""
    result = CliRunner().invoke(app, ["settings"], env=env)
    assert result.exit_code == 0, result.output
    lines = {}
    for line in result.output.splitlines():
        name, value, source = line.split(maxsplit=1)[0], *line.split(maxsplit=1)[1].rsplit("  ", 1)
        lines[name] = (value.strip(), source.strip())
    return lines


def test_docs_settings_md_is_generated_from_the_current_fields():
    current = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    stale = "docs/settings.md is stale: run `ragtune settings --markdown docs/settings.md`"
    assert current == markdown(), stale


def test_markdown_option_writes_the_reference(tmp_path):
    out = tmp_path / "settings.md"
    result = CliRunner().invoke(app, ["settings", "--markdown", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "| `retrieval.top_k` | `int` | `5` | >= 1, <= 100 |" in text
    assert '| `retrieval.index_type` | `str` | `"flat"` | one of flat, hnsw |' in text
    assert "## `rails.grounding` (GroundingSettings)" in text


def test_each_value_names_where_it_came_from(clean_env):
    clean_env.write_text("retrieval:\n  top_k: 9\n  candidates: 40\nserver:\n  port: 9001\n")
    lines = printed({"RAGTUNE_RETRIEVAL__TOP_K": "8", "RAGTUNE_SERVER": '{"max_messages": 50}'})
    assert lines["retrieval.top_k"] == ("8", "env RAGTUNE_RETRIEVAL__TOP_K")  # env wins over the file
    assert lines["retrieval.candidates"] == ("40", f"file {clean_env}")
    assert lines["server.port"] == ("9001", f"file {clean_env}")
    assert lines["server.max_messages"] == ("50", "env RAGTUNE_SERVER")  # a section given as JSON
    assert lines["knowledge.keep_versions"] == ("10", "default")
    assert lines["rails.grounding.signal"] == ('"coverage"', "default")


def test_values_given_in_code_are_attributed_to_init(clean_env, monkeypatch):
    monkeypatch.setenv("RAGTUNE_RETRIEVAL__TOP_K", "8")
    where = sources({"retrieval": {"top_k": 3}, "home": "/srv/ragtune"})
    assert where["retrieval.top_k"] == "init" and where["home"] == "init"
    assert where["retrieval.candidates"] == "default"


def test_secrets_are_masked(clean_env):
    secrets = {
        "RAGTUNE_SERVER__CLIENT_KEYS": '["sk-client-1", "sk-client-2"]',
        "RAGTUNE_SERVER__ADMIN_KEYS": '["sk-admin"]',
        "RAGTUNE_EVALUATION__JUDGE_API_KEY": "sk-judge",
        "RAGTUNE_FEEDBACK__DATABASE_URL": "postgresql://ragtune:hunter2@db.internal/ragtune",
        "RAGTUNE_HANDOFF__WEBHOOK_SECRET": "whsec-42",
    }
    result = CliRunner().invoke(app, ["settings"], env=secrets)
    assert result.exit_code == 0, result.output
    for secret in ("sk-client", "sk-admin", "sk-judge", "hunter2", "whsec-42"):
        assert secret not in result.output
    lines = printed(secrets)
    assert lines["server.client_keys"] == ('["***", "***"]', "env RAGTUNE_SERVER__CLIENT_KEYS")
    assert lines["evaluation.judge_api_key"][0] == '"***"'
    assert lines["feedback.database_url"][0] == '"postgresql://ragtune:***@db.internal/ragtune"'
    assert lines["handoff.webhook_secret"][0] == '"***"'


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("RAGTUNE_RETRIEVAL__TOP_K", "0", r"retrieval\.top_k \(RAGTUNE_RETRIEVAL__TOP_K .*to 1, got '0'"),
        ("RAGTUNE_ENGINE__KIND", "fast", r"engine\.kind \(RAGTUNE_ENGINE__KIND .*'vllm' or 'transformers'"),
        ("RAGTUNE_FEEDBACK__PII_KEEP", '["x@y.example"]', r"feedback\.pii_keep .*renamed: use pii\.keep"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_setting(clean_env, variable, value, named):
    result = CliRunner().invoke(app, ["settings"], env={variable: value})
    assert isinstance(result.exception, RagtuneError)  # main() prints its message, not a traceback
    assert re.search(named, str(result.exception)), str(result.exception)
