"""The dependency direction (CLI → server, evaluation → feedback → rails → training, knowledge → retrieval
→ core) holds in code: the import-linter contract in pyproject.toml passes, and breaks on an upward import.
Examples and benchmarks use only the packages' public names, and no statement is kept out of `ruff format`."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["core", "retrieval", "knowledge", "training", "rails", "feedback", "server", "evaluation", "ragtune"]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(command, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_layers_contract_is_kept():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    errors = tmp_path / "core" / "errors.py"
    errors.write_text("import server.protocol  # noqa\n" + errors.read_text())
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "core.errors -> server.protocol" in result.stdout


def test_examples_and_benchmarks_import_no_private_name():
    private = []
    for script in sorted([*REPO.glob("examples/**/*.py"), *REPO.glob("benchmarks/**/*.py")]):
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
                names = [alias.name for alias in node.names if alias.name.startswith("_")]
                private += [f"{script.relative_to(REPO)}: {node.module}.{name}" for name in names]
    assert private == []


def test_code_is_formatted_by_one_rule():
    """`ruff format` formats every statement: none is hand-aligned behind a `# fmt: skip` (they hid long
    positional calls; keyword arguments read better)."""
    skipped = [
        f"{path.relative_to(REPO)}:{number}"
        for folder in [*PACKAGES, "tests", "benchmarks", "examples"]
        for path in sorted((REPO / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if line.rstrip().endswith("# fmt: " + "skip")
    ]
    assert skipped == []
