"""`ragtune kb ...` as an editor uses it: exit codes, printed sources and scores, clear errors."""

import sys

import pytest
from typer.testing import CliRunner

from ragtune.cli import app, main


@pytest.fixture
def kb_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no ragtune.yaml from the repository
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text("# Returns\n\nUnused items can be returned within 30 days of delivery.")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    return docs


def test_kb_commands_end_to_end(kb_env):
    runner = CliRunner()
    added = runner.invoke(app, ["kb", "add", str(kb_env), "--tag", "policy", "--collection", "store"])
    assert added.exit_code == 2  # some files failed
    assert "added 1" in added.output and "broken.pdf" in added.output and "cannot read pdf" in added.output

    found = runner.invoke(app, ["kb", "search", "how many days to return", "--filter", "tags=policy"])
    assert found.exit_code == 0 and "1. Returns" in found.output and "returns.md" in found.output
    assert "dense" in found.output and "bm25" in found.output
    assert "no relevant chunks" in runner.invoke(app, ["kb", "search", "boiling point of mercury"]).output

    (kb_env / "broken.pdf").unlink()
    (kb_env / "returns.md").write_text(
        "# Returns\n\nUnused items can be returned within 14 days of delivery."
    )
    synced = runner.invoke(app, ["kb", "sync", str(kb_env), "--collection", "store"])
    assert synced.exit_code == 0 and "updated 1" in synced.output and "live version 2" in synced.output

    listed = runner.invoke(app, ["kb", "list"])
    assert "Returns" in listed.output and "store" in listed.output
    assert runner.invoke(app, ["kb", "rollback", "1"]).exit_code == 0
    assert "30 days" in runner.invoke(app, ["kb", "search", "how many days to return"]).output
    versions = runner.invoke(app, ["kb", "versions"]).output
    assert "sync" in versions and "add 2 file(s)" in versions


@pytest.mark.parametrize(
    "args, message",
    [
        (["kb", "search", "  "], "query is empty"),
        (["kb", "search", "returns", "--filter", "tags"], "expected key=value"),
        (["kb", "remove", "nope"], "no document 'nope'"),
        (["kb", "rollback", "7"], "version 7 does not exist"),
    ],
)
def test_user_mistakes_print_a_message_not_a_traceback(kb_env, monkeypatch, capsys, args, message):
    monkeypatch.setattr(sys, "argv", ["ragtune", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_kb_sync_previews_refuses_a_mass_removal_and_says_how_to_undo(kb_env, monkeypatch, capsys):
    runner = CliRunner()
    (kb_env / "broken.pdf").unlink()
    (kb_env / "shipping.md").write_text("# Shipping\n\nOrders ship within two days.")
    assert "live version 1" in runner.invoke(app, ["kb", "sync", str(kb_env)]).output
    for name in ("returns.md", "shipping.md"):
        (kb_env / name).unlink()

    preview = runner.invoke(app, ["kb", "sync", str(kb_env), "--dry-run", "--allow-mass-removal"]).output
    assert "dry run, nothing changed" in preview and "would be removed: returns.md" in preview
    monkeypatch.setattr(sys, "argv", ["ragtune", "kb", "sync", str(kb_env)])
    with pytest.raises(SystemExit) as exited:
        main()
    err = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 1 and "would remove 2 of the 2 document(s)" in err
    assert "--allow-mass-removal" in err

    forced = runner.invoke(app, ["kb", "sync", str(kb_env), "--allow-mass-removal"])
    assert "removed 2" in forced.output and "live version 2" in forced.output
    assert "undo: ragtune kb rollback 1; the last 10 versions are kept" in " ".join(forced.output.split())
    versions = " ".join(runner.invoke(app, ["kb", "versions"]).output.split())
    assert "live version 2; the last 10 versions are kept" in versions
