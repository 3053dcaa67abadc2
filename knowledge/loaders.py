"""File loaders: bytes of one file in, its title and text (or ready-made FAQ chunks) out."""

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.errors import RagtuneError


@dataclass
class Loaded:
    title: str
    text: str = ""  # split by the splitter
    markdown: bool = False
    pairs: list[tuple[str, str]] = field(default_factory=list)  # FAQ: one chunk per (question, answer)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8 text (byte {err.start})") from None


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def load_markdown(data: bytes, name: str) -> Loaded:
    text = _decode(data)
    return Loaded(_first_heading(text) or Path(name).stem, text, markdown=True)


def load_text(data: bytes, name: str) -> Loaded:
    return Loaded(Path(name).stem, _decode(data))


def load_html(data: bytes, name: str) -> Loaded:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "nav", "noscript"]):
        tag.decompose()
    heading = soup.find("h1")
    title = (soup.title.get_text(strip=True) if soup.title else "") or (
        heading.get_text(strip=True) if heading else ""
    )
    body = soup.body or soup
    return Loaded(title or Path(name).stem, body.get_text("\n", strip=True))


def load_pdf(data: bytes, name: str) -> Loaded:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    text = "\n\n".join(page.extract_text() or "" for page in reader.pages)
    title = (reader.metadata.title if reader.metadata else None) or Path(name).stem
    return Loaded(str(title), text)


def load_docx(data: bytes, name: str) -> Loaded:
    import docx

    document = docx.Document(io.BytesIO(data))
    lines = []
    for para in document.paragraphs:
        style = para.style.name if para.style is not None else ""
        level = style.removeprefix("Heading ").strip()
        lines.append(f"{'#' * int(level)} {para.text}" if level.isdigit() else para.text)
    text = "\n\n".join(line for line in lines if line.strip())
    title = document.core_properties.title or _first_heading(text) or Path(name).stem
    return Loaded(title, text, markdown=True)


def _faq_pair(row: dict, where: str) -> tuple[str, str]:
    if (
        not isinstance(row, dict)
        or not str(row.get("question", "")).strip()
        or not str(row.get("answer", "")).strip()
    ):
        raise ValueError(f"{where}: needs non-empty 'question' and 'answer'")
    return str(row["question"]).strip(), str(row["answer"]).strip()


def load_faq_jsonl(data: bytes, name: str) -> Loaded:
    pairs = []
    for number, line in enumerate(_decode(data).splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"line {number}: invalid JSON ({err.msg})") from None
            pairs.append(_faq_pair(row, f"line {number}"))
    return Loaded(Path(name).stem, pairs=pairs)


def load_faq_csv(data: bytes, name: str) -> Loaded:
    rows = csv.DictReader(io.StringIO(_decode(data)))
    pairs = [_faq_pair(row, f"line {number}") for number, row in enumerate(rows, start=2)]
    return Loaded(Path(name).stem, pairs=pairs)


LOADERS = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".jsonl": load_faq_jsonl,
    ".csv": load_faq_csv,
}


def supported(name: str) -> bool:
    return Path(name).suffix.lower() in LOADERS


def load(name: str, data: bytes) -> Loaded:
    """Parse one file; RagtuneError names the file and why it could not be read."""
    suffix = Path(name).suffix.lower()
    if suffix not in LOADERS:
        raise RagtuneError(
            f"{name}: unsupported file type {suffix or '(none)'!r} (supported: {', '.join(LOADERS)})"
        )
    try:
        loaded = LOADERS[suffix](data, name)
    except RagtuneError:
        raise
    except Exception as err:  # each parser fails its own way on a corrupt file; report which file and why
        raise RagtuneError(f"{name}: cannot read {suffix[1:]} file: {err}") from err
    if not loaded.text.strip() and not loaded.pairs:
        raise RagtuneError(f"{name}: no text found")
    return loaded
