"""Answers are model output, so untrusted: the ratings sheet and the report show them, never run them."""

import csv

from evaluation.ratings import write_ratings_csv
from evaluation.report import cell_html, md_cell

ATTACK = '<img src=x onerror="alert(1)"> and <script>steal()</script>'


def test_a_formula_in_an_answer_is_shown_in_the_ratings_sheet_not_run(tmp_path):
    row = {"combination": "a", "question_id": "q1", "citations": [{"title": "=cmd|' /C calc'!A0"}]}
    rows = [
        {**row, "question": "Refund?", "reference_answer": "45 days", "answer": '=HYPERLINK("http://x.example")'},
        {**row, "question_id": "q2", "question": "@SUM(A1)", "reference_answer": "", "answer": "-2+3"},
        {**row, "question_id": "q3", "question": "Ship?", "reference_answer": "", "answer": "2 days - fast"},
    ]
    write_ratings_csv(rows, tmp_path)
    with (tmp_path / "ratings.csv").open(newline="", encoding="utf-8") as f:
        cells = [value for record in csv.DictReader(f) for value in record.values() if value]
    formulas = [value for value in cells if value[0] in "=+-@\t\r"]
    assert formulas == []
    assert "'=HYPERLINK(\"http://x.example\")" in cells and "'-2+3" in cells and "'@SUM(A1)" in cells
    assert "2 days - fast" in cells  # text that does not start like a formula is left as it is


def test_html_in_an_answer_is_escaped_in_the_markdown_and_once_in_the_html():
    cell = md_cell(ATTACK + "\nline two | with a pipe")
    assert "<img" not in cell and "<script>" not in cell and "&lt;script&gt;" in cell
    assert "<br>line two \\| with a pipe" in cell
    shown = cell_html(cell)
    assert "<script>" not in shown and "&lt;script&gt;steal()&lt;/script&gt;" in shown  # not &amp;lt;
