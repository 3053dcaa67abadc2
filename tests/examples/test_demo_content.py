"""Demo content in examples/: it loads, counts fit, facts agree, and eval is held out from training."""

import csv
import json
import re
import unicodedata
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from core.language import CJK, detect_language

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KNOWLEDGE = EXAMPLES / "knowledge"
INTENTS = {"returns", "shipping", "warranty", "account", "payment", "product", "troubleshooting", "off_topic"}
SIGN_OFFS = ("— Northwind Support", "—— Northwind 客服")
STOPWORDS = set(re.findall(
    r"\w+",
    "a an the is are was do does did i my me you your we our it its to of in on for and or can could what "
    "how when where which who will would be with at this that there any have has get from about if s",
))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


def is_chinese(text: str) -> bool:
    """Chinese as the server tells it (the language it answers in)."""
    return detect_language(text) == "zh"


def cjk_share(text: str) -> float:
    return len(CJK.findall(text)) / max(len(re.findall(r"\w", text)), 1)


def document_text(path: Path) -> str:
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        return "\n".join(page.extract_text() for page in PdfReader(path).pages)
    if path.suffix == ".docx":
        import docx

        return "\n".join(p.text for p in docx.Document(str(path)).paragraphs)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def conversations() -> list[dict]:
    return read_jsonl(EXAMPLES / "training" / "conversations.jsonl")


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return read_jsonl(EXAMPLES / "eval" / "questions.jsonl")


@pytest.fixture(scope="module")
def all_text(conversations, questions) -> str:
    """Every text a user of the demo sees: documents, training and eval data."""
    docs = [document_text(p) for p in sorted(KNOWLEDGE.iterdir())]
    data = [json.dumps(row, ensure_ascii=False) for row in conversations + questions]
    prefs = (EXAMPLES / "training" / "preferences.jsonl").read_text(encoding="utf-8")
    return "\n".join(docs + data + [prefs])


def test_knowledge_base_has_the_promised_mix_of_formats():
    files = sorted(p for p in KNOWLEDGE.iterdir() if p.is_file())
    assert 25 <= len(files) <= 35
    suffixes = Counter(p.suffix for p in files)
    assert suffixes[".md"] >= 15 and suffixes[".html"] >= 3 and 2 <= suffixes[".pdf"] <= 3
    assert suffixes[".docx"] == 1 and suffixes[".jsonl"] == 1 and suffixes[".csv"] == 1
    chinese_docs = [p for p in files if p.suffix == ".md" and cjk_share(p.read_text(encoding="utf-8")) > 0.3]
    assert 4 <= len(chinese_docs) <= 6
    assert sum(p.stat().st_size for p in EXAMPLES.rglob("*") if p.is_file()) < 2_000_000


def test_every_document_yields_readable_text():
    from bs4 import BeautifulSoup

    for path in KNOWLEDGE.iterdir():
        text = document_text(path)
        assert len(text) > 300, path
        if path.suffix == ".html":
            soup = BeautifulSoup(text, "html.parser")
            assert soup.title and soup.title.string.strip(), path
            assert soup.find("h1") and soup.find(["ul", "ol"]), path
        if path.suffix == ".pdf":
            assert "Northwind" in text and not has_cjk(text), path


def test_faq_files_are_question_answer_pairs():
    faq = read_jsonl(KNOWLEDGE / "faq.jsonl")
    assert 20 <= len(faq) <= 40
    assert all(set(row) == {"question", "answer"} and row["question"] and row["answer"] for row in faq)
    with (KNOWLEDGE / "faq_zh.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 10
    for row in rows:
        assert list(row) == ["question", "answer"] and has_cjk(row["question"]) and row["answer"], row


def test_codes_and_numbers_are_consistent_everywhere(all_text):
    catalog = (KNOWLEDGE / "product-catalog.md").read_text(encoding="utf-8")
    errors = (KNOWLEDGE / "error-codes.md").read_text(encoding="utf-8")
    assert set(re.findall(r"NW-\d{4}", all_text)) <= set(re.findall(r"NW-\d{4}", catalog))
    assert set(re.findall(r"\bE-\d{3}\b", all_text)) <= set(re.findall(r"\bE-\d{3}\b", errors))
    for order in re.findall(r"NWG-\S+", all_text):
        assert re.match(r"NWG-(\d{4}-\d{6}|YYYY-NNNNNN|年份-六位数字)", order), order


def test_training_conversations_are_well_formed(conversations):
    assert 250 <= len(conversations) <= 350
    for row in conversations:
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and roles, row
        assert row["intent"] in INTENTS and row["style"] in {"friendly", "formal"}
        assert row["language"] == detect_language(row["messages"][0]["content"])
        assert all(m["content"].endswith(SIGN_OFFS) for m in row["messages"] if m["role"] == "assistant")
    chinese = sum(row["language"] == "zh" for row in conversations) / len(conversations)
    assert 0.15 <= chinese <= 0.25
    assert sum(len(row["messages"]) > 2 for row in conversations) >= 30
    assert set(Counter(row["intent"] for row in conversations)) == INTENTS
    assert len({json.dumps(row["messages"]) for row in conversations}) == len(conversations)


def test_support_asks_for_the_order_number_then_uses_it(conversations):
    given = 0
    for row in conversations:
        messages = row["messages"]
        for i in range(2, len(messages), 2):
            order = re.search(r"NWG-\d{4}-\d{6}", messages[i]["content"])
            if order:
                given += 1
                asked = messages[i - 1]["content"]
                assert "order number" in asked or "订单号" in asked, row
                assert order.group() in messages[i + 1]["content"], row
    assert given >= 20


def test_preference_pairs_prefer_the_house_voice():
    pairs = read_jsonl(EXAMPLES / "training" / "preferences.jsonl")
    assert 40 <= len(pairs) <= 80
    for pair in pairs:
        assert pair["prompt"] and pair["chosen"].endswith(SIGN_OFFS), pair
        assert not pair["rejected"].endswith(SIGN_OFFS), pair


def test_committed_training_data_matches_its_generator(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import make_training_data

    make_training_data.main(tmp_path)
    for name in ("conversations.jsonl", "preferences.jsonl"):
        assert (tmp_path / name).read_bytes() == (EXAMPLES / "training" / name).read_bytes(), name


def test_eval_questions_are_balanced_and_grounded(questions):
    assert 40 <= len(questions) <= 60
    answerable = [q for q in questions if q["answerable"]]
    assert 0.65 <= len(answerable) / len(questions) <= 0.85
    assert 0.15 <= sum(is_chinese(q["question"]) for q in questions) / len(questions) <= 0.3
    assert any(is_chinese(q["question"]) for q in questions if not q["answerable"])
    for q in questions:
        assert q["question"] and q["reference_answer"]
        assert bool(q["gold_sources"]) == q["answerable"], q["question"]
        for source in q["gold_sources"]:
            assert (KNOWLEDGE / source).is_file(), source


def test_key_facts_are_what_the_gold_documents_say(questions):
    """Every answerable held-out question lists the facts a correct answer must state; its reference answer
    and at least one of its gold documents state each, and the question alone states none of them."""
    from evaluation.facts import states

    for q in questions:
        facts = q.get("key_facts") or []
        assert bool(facts) == q["answerable"], q["question"]
        gold = [document_text(KNOWLEDGE / source) for source in q["gold_sources"]]
        for fact in facts:
            assert states(q["reference_answer"], fact), (q["question"], fact)
            assert any(states(text, fact) for text in gold), (q["question"], fact)
            assert not states(q["question"], fact), (q["question"], fact)


def test_general_questions_load():
    rows = read_jsonl(EXAMPLES / "eval" / "general.jsonl")
    assert 15 <= len(rows) <= 20
    assert all(set(row) == {"question", "reference_answer"} for row in rows)


def content_tokens(text: str) -> set[str]:
    """English content words and Chinese character bigrams, after Unicode and case normalisation."""
    text = unicodedata.normalize("NFKC", text).lower()
    han = re.findall(r"[\u4e00-\u9fff]", text)
    words = {w for w in re.findall(r"[a-z0-9]+", text) if w not in STOPWORDS}
    return words | {a + b for a, b in pairwise(han)}


def overlap(a: str, b: str) -> float:
    ta, tb = content_tokens(a), content_tokens(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 1.0


def training_prompts(conversations: list[dict]) -> list[str]:
    prompts = {m["content"] for row in conversations for m in row["messages"] if m["role"] == "user"}
    prompts |= {p["prompt"] for p in read_jsonl(EXAMPLES / "training" / "preferences.jsonl")}
    return sorted(prompts)


def test_overlap_measure_flags_paraphrases():
    assert overlap("How long is the warranty on AeroBuds Pro?", "how long is the AeroBuds Pro warranty") > 0.6
    assert overlap("退货期限是多久？", "退货期限是多久呢") > 0.6
    assert overlap("Do you ship to Norway?", "What does error E-204 mean?") < 0.2


def test_eval_questions_are_not_in_training_data(conversations, questions):
    prompts = training_prompts(conversations)
    for q in questions:
        closest = max(prompts, key=lambda p: overlap(q["question"], p))
        assert overlap(q["question"], closest) < 0.6, (q["question"], closest)


def test_english_eval_questions_are_not_paraphrased_in_training(conversations, questions, embedder):
    """Lexical overlap misses rewordings; the embedded English embedder catches them (not used for Chinese,
    which it does not know)."""
    english = [q["question"] for q in questions if not is_chinese(q["question"])]
    prompts = [p for p in training_prompts(conversations) if not is_chinese(p)]
    pair = embedder.encode(["How long is the warranty on AeroBuds Pro?", "AeroBuds Pro warranty period?"])
    assert float(pair[0] @ pair[1]) > 0.85  # a paraphrase scores above the bar used below
    similarity = embedder.encode(english) @ embedder.encode(prompts).T
    for i, question in enumerate(english):
        j = int(similarity[i].argmax())
        assert similarity[i, j] < 0.85, (question, prompts[j])
