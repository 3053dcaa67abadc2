"""Each file type goes in with the right title and text; a broken file says which and why."""

import io
import json
import os
import zipfile

import pytest

from core.errors import RagtuneError
from core.settings import KnowledgeSettings
from knowledge.loaders import load


def make_pdf(text: str, pages: int = 1) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Warranty Terms")
    pdf.set_font("Helvetica", size=12)
    for _ in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def make_docx(heading: str, text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def with_member(archive: bytes, name: str, data: bytes) -> bytes:
    """The zip (docx) with one more member, deflated."""
    out = io.BytesIO(archive)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(name, data)
    return out.getvalue()


def test_markdown_title_is_its_first_heading():
    loaded = load("returns.md", b"# Returns policy\n\nItems can be returned within 30 days.")
    assert loaded.title == "Returns policy" and "30 days" in loaded.text and loaded.markdown


def test_text_file_title_is_its_name():
    loaded = load("notes/shipping.txt", b"We ship in 2 days.")
    assert loaded.title == "shipping" and loaded.text == "We ship in 2 days."


def test_html_title_and_text_without_scripts():
    page = (
        b"<html><head><title>Contact us</title><script>var x = 'tracking';</script></head>"
        b"<body><h1>Contact</h1><p>Call 0800 123 456.</p></body></html>"
    )
    loaded = load("contact.html", page)
    assert loaded.title == "Contact us"
    assert "Call 0800 123 456." in loaded.text and "tracking" not in loaded.text
    assert load("c.html", b"<body><h1>Support hours</h1><p>9 to 5</p></body>").title == "Support hours"


def test_pdf_text_and_title():
    loaded = load("warranty.pdf", make_pdf("The SkyLens drone has a two year warranty."))
    assert loaded.title == "Warranty Terms" and "two year warranty" in loaded.text


def test_docx_headings_become_markdown():
    loaded = load("billing.docx", make_docx("Invoices", "Invoices are emailed after shipping."))
    assert (
        loaded.title == "Invoices" and "# Invoices" in loaded.text and "emailed after shipping" in loaded.text
    )


def test_faq_jsonl_and_csv_give_question_answer_pairs():
    rows = [
        {"question": "Do you ship abroad?", "answer": "Yes, to 30 countries."},
        {"question": "退货期限是多久？", "answer": "三十天。"},
    ]
    jsonl = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    assert load("faq.jsonl", jsonl).pairs == [
        ("Do you ship abroad?", "Yes, to 30 countries."),
        ("退货期限是多久？", "三十天。"),
    ]
    csv = b'question,answer\nDo you ship abroad?,"Yes, to 30 countries."\n'
    assert load("faq.csv", csv).pairs == [("Do you ship abroad?", "Yes, to 30 countries.")]


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "broken.pdf: cannot read pdf"),
        ("broken.docx", b"PK\x03\x04 not a zip", "broken.docx: cannot read docx"),
        ("faq.jsonl", b'{"question": "a", "answer": "b"}\n{oops\n', "faq.jsonl: .*line 2: invalid JSON"),
        ("faq.csv", b"question,answer\nonly a question,\n", "faq.csv: .*line 2: needs non-empty"),
        ("latin1.txt", "café".encode("latin-1"), "latin1.txt: .*not UTF-8"),
        ("empty.md", b"   \n", "empty.md: no text found"),
        ("slides.pptx", b"whatever", "slides.pptx: unsupported file type '.pptx'"),
    ],
)
def test_bad_files_name_the_file_and_the_reason(name, data, reason):
    with pytest.raises(RagtuneError, match=reason):
        load(name, data)


@pytest.mark.parametrize(
    "name, data, limits, reason",
    [
        (
            "bomb.docx",  # 16 MB of zeros deflate to a few KB
            with_member(make_docx("Invoices", "Emailed."), "word/padding.xml", bytes(16 * 2**20)),
            {},
            r"bomb.docx: unpacks to \d+ times its size, more than knowledge.max_compression_ratio \(100\)",
        ),
        (
            "big.docx",
            with_member(make_docx("Invoices", "Emailed."), "word/media/photo.bin", os.urandom(2 * 2**20)),
            {"max_unpacked_mb": 1},
            r"big.docx: unpacks to \d MB, more than knowledge.max_unpacked_mb \(1\)",
        ),
        (
            "long.pdf",
            make_pdf("Warranty terms.", pages=3),
            {"max_pdf_pages": 2},
            r"long.pdf: 3 pages, more than knowledge.max_pdf_pages \(2\)",
        ),
        (
            "dense.pdf",
            make_pdf("The SkyLens drone has a two year warranty. " * 4),
            {"max_pdf_chars": 50},
            r"dense.pdf: more than knowledge.max_pdf_chars \(50\) characters of text by page 1",
        ),
    ],
)
def test_files_that_would_unpack_too_far_are_refused(name, data, limits, reason):
    with pytest.raises(RagtuneError, match=reason):
        load(name, data, KnowledgeSettings(**limits))
