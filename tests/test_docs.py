"""The documentation a newcomer meets: the README stays a short manual, every link in it and in docs/ leads
somewhere in this repository, measurements live in docs/ rather than in comments and docstrings, and nothing
points at a design file outside the repository."""

import ast
import io
import os
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = (
    "core",
    "retrieval",
    "knowledge",
    "training",
    "rails",
    "feedback",
    "server",
    "evaluation",
    "ragtune",
    "benchmarks",
    "examples",
)
README_MAX_LINES = 250
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".txt", ".sh", ".json"}

# What an experiment log in a comment looks like; each was found in the code and moved to docs/decisions/.
MEASUREMENT_PATTERNS = {
    "an AUC figure": r"\bAUC\b[^.;]{0,60}?\d\.\d",
    "a before -> after timing": r"\d(?:\.\d+)?\s*(?:s|ms|µs|min)\s*(?:->|→)\s*\d",
    "a throughput figure": r"\d(?:\.\d+)?\s*tokens/s\b",
    "a timing comparison": r"\d(?:\.\d+)?\s*(?:s|ms|µs)\s+(?:vs\.?|against)\s+\d",
    "a measurement on this machine": r"\bmeasured (?:here|on this)\b",
    "a speed-up factor": r"\b(?:\d+(?:\.\d+)?\s*[x×]|several times)\s+(?:faster|slower)\b",
    "a calibration's figures": r"\b(?:[Cc]alibrat\w*|measured)\b[^.;]{0,100}?\d\.\d",
    "a duration estimate": r"\b(?:about|took|takes)\s+(?:a|an|one|two|half an|\d+(?:\.\d+)?)\s+"
    r"(?:seconds?|minutes?|hours?)\b|\bhalf an hour\b",
    "an experiment's share of questions": r"\d+(?:\.\d+)?\s*%\s+(?:of\s+the\s+)?(?:un)?answerable\b",
    "a cross-validated rate": r"\d+-fold CV\b|\bcap \d+\s*%",
    "a date": r"\b20\d\d-[01]\d-[0-3]\d\b",
    "an issue number": r"\b[Ii]ssue \d+\b",
}
_MEASUREMENT = re.compile("|".join(f"(?:{p})" for p in MEASUREMENT_PATTERNS.values()))


def comments_and_docstrings(source: str):
    """(first line, text) of every block of consecutive comment lines and every module, class and function
    docstring, its lines joined, so a figure split across a line break is still one phrase."""
    block_start, block, last = 0, [], -1
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            line = token.start[0]
            if line != last + 1 and block:
                yield block_start, " ".join(block)
                block = []
            block_start, last = (line if not block else block_start), line
            block.append(token.string.lstrip("#").strip())
    if block:
        yield block_start, " ".join(block)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                yield node.body[0].lineno, " ".join(docstring.split())


def measurements(source: str) -> list[tuple[int, str]]:
    """(line, the phrase) for each comment or docstring that carries a figure from an experiment."""
    found = []
    for line, text in comments_and_docstrings(source):
        match = _MEASUREMENT.search(text)
        if match:
            found.append((line, text[max(0, match.start() - 40) : match.end() + 40]))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def links(markdown: str) -> list[str]:
    prose = _CODE.sub("", _FENCE.sub("", markdown))
    return _LINK.findall(prose)


def anchors(markdown: str) -> set[str]:
    return {slug(line.lstrip("#")) for line in _FENCE.sub("", markdown).splitlines() if line.startswith("#")}


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.is_relative_to(root) or not resolved.exists():  # a folder is fine: GitHub lists it
            broken.append(f"{target} (no such file in the repository)")
        elif (
            anchor
            and resolved.suffix == ".md"
            and anchor not in anchors(resolved.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target} (no heading '#{anchor}' in {resolved.relative_to(root)})")
    return broken


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_readme_is_a_short_manual():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move details into a docs/ page"
    )


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(page):
    assert page.is_file(), f"{page.relative_to(ROOT)} is missing"
    assert broken_links(page) == [], f"broken links in {page.relative_to(ROOT)}"


def test_readme_links_every_topic_page():
    linked = {
        (ROOT / target.partition("#")[0]).resolve()
        for target in links((ROOT / "README.md").read_text("utf-8"))
    }
    topics = [p for p in sorted((ROOT / "docs").glob("*.md"))]
    assert topics, "docs/ has no topic pages"
    assert [str(p.relative_to(ROOT)) for p in topics if p.resolve() not in linked] == []


def test_link_checker_finds_broken_links(tmp_path):
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "benchmarks.md").write_text(
        "# Benchmarks\n\n## `make eval` on the demo\n", encoding="utf-8"
    )
    (tmp_path / "outside.md").write_text("# Outside\n", encoding="utf-8")
    page = repo / "docs" / "index.md"
    page.write_text(
        "[ok](benchmarks.md#make-eval-on-the-demo) [gone](no-such-page.md) "
        "[bad anchor](benchmarks.md#no-such-heading) [outside](../../outside.md) `[code](y.md)`\n"
        "```\n[fenced](z.md)\n```\n",
        encoding="utf-8",
    )
    problems = broken_links(page, root=repo)
    assert len(problems) == 3, problems
    assert "no-such-page.md" in problems[0] and "no-such-heading" in problems[1] and "outside" in problems[2]


def test_no_measurement_in_comments_or_docstrings():
    found = []
    for package in (*PRODUCT_PACKAGES, "tests"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, text in measurements(path.read_text(encoding="utf-8")):
                found.append(f"{path.relative_to(ROOT)}:{line}: {text}")
    assert found == [], (
        "figures from experiments belong in docs/ (docs/decisions/NAME.md or docs/benchmarks.md); leave a "
        "one-line '# why: docs/decisions/NAME.md' comment in the code instead:\n" + "\n".join(found)
    )


def test_docs_pages_named_in_code_exist():
    """A '# why: docs/decisions/NAME.md' pointer, or any docs/ page code names, leads to a page."""
    named = re.compile(r"\bdocs/[\w./-]+\.md\b")
    missing = []
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for page in sorted(set(named.findall(path.read_text(encoding="utf-8")))):
                if not (ROOT / page).is_file():
                    missing.append(f"{path.relative_to(ROOT)} names {page}")
    for name in ("Makefile", "pyproject.toml"):
        missing += [
            f"{name} names {page}"
            for page in named.findall((ROOT / name).read_text("utf-8"))
            if not (ROOT / page).is_file()
        ]
    assert missing == []


@pytest.mark.parametrize(
    "comment",
    [
        '"""Calibration: ROC-AUC per signal: coverage 0.90, dense 0.70."""',
        "_BATCH = 8  # whole sources and short sentences apart (1.1 s -> 0.23 s)",
        '"""A step ran about a second on 2 cores."""',
        "# the adapter trains in about half an hour on 2 CPU cores",
        '"""On a busy machine a parallel step waits (measured here: 12 ms vs 56 ms for a query)."""',
        "# float32 is about 3x faster there",
        '"""which makes adapters several times slower than the base model."""',
        '"""Calibration (MiniLM): paraphrases of a context sentence score 0.7-0.94."""',
        "# RAG throughput 46.4 -> 77.1 tokens/s",
        '"""0.38, refusing 51% of the unanswerable and 4% of the answerable in-sample."""',
        '"""Issue 13, the server\'s side."""',
        "# figures of 2026-12-04",
    ],
)
def test_measurement_patterns_catch_what_was_moved_out(comment):
    assert measurements(comment + "\n"), comment


@pytest.mark.parametrize(
    "comment",
    [
        '"""Deltas with 95% bootstrap intervals."""',
        "# conversations per intent and language (8 intents -> 288, ~19% Chinese)",
        "BM25_K1 = 1.5  # bm25s' default: a term found once scores idf / (1 + k1)",
        '"""Targets: ragtune >= 1.3x the baseline\'s tokens/s."""',
        "# why: docs/decisions/grounding-calibration.md",
    ],
)
def test_measurement_patterns_leave_plain_comments_alone(comment):
    assert measurements(comment + "\n") == []


def test_nothing_points_at_a_design_file_outside_the_repository():
    outside_design = "shared/" + "design.md"  # spelled apart so this file does not match itself
    offenders = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [
            d
            for d in subfolders
            if not d.startswith(".")
            and not d.endswith(".egg-info")
            and d not in {"node_modules", "reports", "__pycache__"}
        ]
        for name in files:
            path = Path(folder) / name
            text_file = path.suffix in TEXT_SUFFIXES or name == "Makefile" or name.startswith("Dockerfile")
            if text_file and outside_design in path.read_text(encoding="utf-8", errors="replace"):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], "the design lives in docs/architecture.md"


def test_a_benchmark_rewrites_only_its_own_section(tmp_path):
    from benchmarks.docs_table import markdown_table, write_table

    page = tmp_path / "benchmarks.md"
    page.write_text(
        "# Benchmarks\n\n<!-- bench:rails -->\nold figures\n<!-- /bench:rails -->\n\nWhy: a decision page.\n"
        "\n<!-- bench:serving -->\nserving figures\n<!-- /bench:serving -->\n",
        encoding="utf-8",
    )
    table = markdown_table(["measurement", "English", "Chinese"], [["stream filter", "26", "25"]])
    write_table("rails", table, note="A word list.", machine="Test CPU, 2 cores", path=page)
    write_table(
        "lora_ops", markdown_table(["op", "ms"], [["grouped", "0.06"]]), machine="Test CPU", path=page
    )
    text = page.read_text(encoding="utf-8")

    rails = text[text.index("<!-- bench:rails -->") : text.index("<!-- /bench:rails -->")]
    assert "old figures" not in text and "| stream filter | 26 | 25 |" in rails
    assert re.search(r"\d{4}-\d\d-\d\d, (commit [0-9a-f]+|unknown commit).*, Test CPU, 2 cores\.", rails)
    assert "A word list." in rails
    assert "Why: a decision page." in text and "serving figures" in text  # the rest is untouched
    assert text.rstrip().endswith("<!-- /bench:lora_ops -->")  # a new benchmark gets its own section
    with pytest.raises(ValueError, match="benchmark name"):
        write_table("a b", table, path=page)
