"""File loaders: bytes of one file in, its title and text (or ready-made FAQ chunks) out. Formats that
unpack (docx, pdf) are checked against knowledge.max_* limits before, and while, they are parsed."""

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import RagtuneError
from core.settings import KnowledgeSettings


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


def load_markdown(data: bytes, name: str, limits: KnowledgeSettings) -> Loaded:
    text = _decode(data)
    return Loaded(title=_first_heading(text) or Path(name).stem, text=text, markdown=True)


def load_text(data: bytes, name: str, limits: KnowledgeSettings) -> Loaded:
    return Loaded(title=Path(name).stem, text=_decode(data))


def load_html(data: bytes, name: str, limits: KnowledgeSettings) -> Loaded:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "nav", "noscript"]):
        tag.decompose()
    heading = soup.find("h1")
    title = (soup.title.get_text(strip=True) if soup.title else "") or (
        heading.get_text(strip=True) if heading else ""
    )
    body = soup.body or soup
    return Loaded(title=title or Path(name).stem, text=body.get_text("\n", strip=True))


def load_pdf(data: bytes, name: str, limits: KnowledgeSettings) -> Loaded:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if len(reader.pages) > limits.max_pdf_pages:
        raise RagtuneError(
            f"{name}: {len(reader.pages)} pages, more than knowledge.max_pdf_pages ({limits.max_pdf_pages})"
        )
    pages, chars = [], 0
    for page in reader.pages:
        pages.append(page.extract_text() or "")
        chars += len(pages[-1])
        if chars > limits.max_pdf_chars:
            raise RagtuneError(
                f"{name}: more than knowledge.max_pdf_chars ({limits.max_pdf_chars}) characters of text "
                f"by page {len(pages)}"
            )
    title = (reader.metadata.title if reader.metadata else None) or Path(name).stem
    return Loaded(title=str(title), text="\n\n".join(pages))


def check_unpacked_size(data: bytes, name: str, limits: KnowledgeSettings) -> None:
    """A zip (docx) is refused before it is opened when its members would unpack to more than
    knowledge.max_unpacked_mb, or more than knowledge.max_compression_ratio times its size. Reading a
    member stops at its declared size, so a member that lies about its size cannot get past this."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(member.file_size for member in archive.infolist())
    if unpacked > limits.max_unpacked_mb * 2**20:
        raise RagtuneError(
            f"{name}: unpacks to {unpacked / 2**20:.0f} MB, more than knowledge.max_unpacked_mb "
            f"({limits.max_unpacked_mb})"
        )
    if unpacked > limits.max_compression_ratio * len(data):
        raise RagtuneError(
            f"{name}: unpacks to {unpacked / len(data):.0f} times its size, more than "
            f"knowledge.max_compression_ratio ({limits.max_compression_ratio:g}): a zip bomb?"
        )


def load_docx(data: bytes, name: str, limits: KnowledgeSettings) -> Loaded:
    import docx

    check_unpacked_size(data, name, limits)
    document = docx.Document(io.BytesIO(data))
    lines = []
    for para in document.paragraphs:
        style = para.style.name if para.style is not None else ""
        level = style.removeprefix("Heading ").strip()
        lines.append(f"{'#' * int(level)} {para.text}" if level.isdigit() else para.text)
    text = "\n\n".join(line for line in lines if line.strip())
    title = document.core_properties.title or _first_heading(text) or Path(name).stem
    return Loaded(title=title, text=text, markdown=True)


def _faq_pair(row: dict, where: str) -> tuple[str, str]:
    if (
        not isinstance(row, dict)
        or not str(row.get("question", "")).strip()
        or not str(row.get("answer", "")).strip()
    ):
        raise ValueError(f"{where}: needs non-empty 'question' and 'answer'")
    return str(row["question"]).strip(), str(row["answer"]).strip()


def load_faq_jsonl(data: bytes, name: str, limits: KnowledgeSettings) -> Loaded:
    pairs = []
    for number, line in enumerate(_decode(data).splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"line {number}: invalid JSON ({err.msg})") from None
            pairs.append(_faq_pair(row, f"line {number}"))
    return Loaded(title=Path(name).stem, pairs=pairs)


def load_faq_csv(data: bytes, name: str, limits: KnowledgeSettings) -> Loaded:
    rows = csv.DictReader(io.StringIO(_decode(data)))
    pairs = [_faq_pair(row, f"line {number}") for number, row in enumerate(rows, start=2)]
    return Loaded(title=Path(name).stem, pairs=pairs)


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


def load(name: str, data: bytes, limits: KnowledgeSettings | None = None) -> Loaded:
    """Parse one file; RagtuneError names the file and why it could not be read."""
    suffix = Path(name).suffix.lower()
    if suffix not in LOADERS:
        raise RagtuneError(
            f"{name}: unsupported file type {suffix or '(none)'!r} (supported: {', '.join(LOADERS)})"
        )
    try:
        loaded = LOADERS[suffix](data, name, limits or KnowledgeSettings())
    except RagtuneError:
        raise
    except Exception as err:  # each parser fails its own way on a corrupt file; report which file and why
        raise RagtuneError(f"{name}: cannot read {suffix[1:]} file: {err}") from err
    if not loaded.text.strip() and not loaded.pairs:
        raise RagtuneError(f"{name}: no text found")
    return loaded
