"""Curated answers: questions editors answered once, served word for word when a customer asks one of them
(matching: knowledge/answer_match.py). They live beside the knowledge base, under RAGTUNE_HOME/answers, and
every replica reads the same files:

answers/answers.json         {"version": n, "answers": [...]}: replaced atomically (tmp, fsync, os.replace)
answers/versions/vNNNNNN.json each version as it was written; the last knowledge.keep_versions are kept
answers/write.lock           one change at a time, across processes (or a PostgreSQL advisory lock:
                             knowledge/locking.py)
answers/hits.sqlite          hit count and last hit per answer: kept apart so that serving an answer does not
                             change answers.json and make every replica reload it

A reader checks answers.json's stat (one system call) before each request and reloads when it changed.
Each answer may cite knowledge-base documents; it records their content hash, so a document replaced or
removed since then makes the answer stale (`staleness`)."""

import json
import re
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import NotFoundError, RagtuneError
from core.language import detect_language
from core.settings import RetrievalSettings
from knowledge.loaders import load
from knowledge.locking import replaced_stamp, write_atomic, write_lock
from retrieval.evidence import product_names
from retrieval.query import ResolvedQuery, resolve_query

MAX_QUESTION_CHARS = 1000
MAX_ANSWER_CHARS = 20_000
MAX_PARAPHRASES = 50
EDITABLE = ("question", "answer", "paraphrases", "language", "collection", "author")
# A product or error code: letters, an optional dash, digits (NW-4471, E-117, V30).
CODE = re.compile(r"\b[A-Za-z]{1,3}-?\d{2,6}\b")


@dataclass
class CuratedAnswer:
    question: str
    answer: str
    language: str = ""  # "en" | "zh"; detected from the question when not given
    paraphrases: list[str] = field(default_factory=list)  # other ways customers ask it
    collection: str | None = None  # None: whatever collection a request searches
    sources: list[dict] = field(default_factory=list)  # cited documents: document_id, source, title, hash
    author: str | None = None
    origin: str | None = None  # where it came from: "import:faq.jsonl", "feedback:chatcmpl-..."
    id: str = ""
    created: float = 0.0
    updated: float = 0.0

    def texts(self) -> list[str]:
        """What a customer's question is matched against: the question and its paraphrases."""
        return [self.question, *self.paraphrases]


def checked(answer: CuratedAnswer) -> CuratedAnswer:
    """The answer with its text trimmed and its language set; RagtuneError names the bad field."""
    where = f"curated answer {answer.id or answer.question[:60]!r}"
    question, text = str(answer.question or "").strip(), str(answer.answer or "").strip()
    if not question or len(question) > MAX_QUESTION_CHARS:
        raise RagtuneError(
            f"{where}: 'question' must be 1 to {MAX_QUESTION_CHARS} characters", param="question"
        )
    if not text or len(text) > MAX_ANSWER_CHARS:
        raise RagtuneError(f"{where}: 'answer' must be 1 to {MAX_ANSWER_CHARS} characters", param="answer")
    if not isinstance(answer.paraphrases, list) or len(answer.paraphrases) > MAX_PARAPHRASES:
        raise RagtuneError(
            f"{where}: 'paraphrases' must be a list of at most {MAX_PARAPHRASES}", param="paraphrases"
        )
    paraphrases = [str(p).strip() for p in answer.paraphrases if str(p).strip()]
    if any(len(p) > MAX_QUESTION_CHARS for p in paraphrases):
        raise RagtuneError(
            f"{where}: a paraphrase is longer than {MAX_QUESTION_CHARS} characters", param="paraphrases"
        )
    language = answer.language or detect_language(question)
    if language not in ("en", "zh"):
        raise RagtuneError(f"{where}: 'language' must be 'en' or 'zh', not {language!r}", param="language")
    return CuratedAnswer(
        **{
            **asdict(answer),
            "question": question,
            "answer": text,
            "paraphrases": paraphrases,
            "language": language,
        }
    )


class AnswerStore:
    def __init__(
        self, root: Path, lock_timeout_s: float = 30.0, keep_versions: int = 10, lock_url: str | None = None
    ):
        """`lock_url`: as KnowledgeBase.open's (a PostgreSQL advisory lock instead of answers/write.lock)."""
        self.root = Path(root)
        self.file = self.root / "answers.json"
        self.lock_timeout_s, self.keep_versions, self.lock_url = lock_timeout_s, keep_versions, lock_url

    # -- reading --
    def stamp(self) -> tuple | None:
        """Changes whenever answers.json is replaced (by any process); None before the first answer."""
        return replaced_stamp(self.file)

    def read(self) -> tuple[int, list[CuratedAnswer]]:
        """(version, answers) as the file holds them now."""
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0, []
        return data["version"], [CuratedAnswer(**row) for row in data["answers"]]

    def all(self) -> list[CuratedAnswer]:
        return self.read()[1]

    def get(self, answer_id: str) -> CuratedAnswer:
        for answer in self.all():
            if answer.id == answer_id:
                return answer
        raise NotFoundError(f"curated answer '{answer_id}' does not exist", param="id")

    # -- changing (one writer at a time, across processes) --
    def add(self, answers: list[CuratedAnswer]) -> list[CuratedAnswer]:
        """New answers; one with the same question, language and collection as a stored one replaces its
        text (importing a file twice does not duplicate it). Returns them as stored."""
        fresh = [checked(a) for a in answers]
        stored: list[CuratedAnswer] = []

        def change(current: list[CuratedAnswer]) -> list[CuratedAnswer]:
            now = time.time()
            by_key = {_key(a): a for a in current}
            for new in fresh:
                old = by_key.get(_key(new))
                if old is not None:
                    old.answer, old.updated = new.answer, now
                    old.paraphrases = list(dict.fromkeys([*old.paraphrases, *new.paraphrases]))
                    old.sources = new.sources or old.sources
                    old.author = new.author or old.author
                    stored.append(old)
                    continue
                new.id = new.id or f"ans-{uuid.uuid4().hex[:12]}"
                new.created = new.updated = now
                current.append(new)
                by_key[_key(new)] = new
                stored.append(new)
            return current

        self._change(change)
        return stored

    def update(self, answer_id: str, changes: dict) -> CuratedAnswer:
        unknown = set(changes) - {*EDITABLE, "sources"}
        if unknown:
            raise RagtuneError(
                f"curated answer: cannot change {', '.join(sorted(unknown))}", param=min(unknown)
            )
        result: list[CuratedAnswer] = []

        def change(current: list[CuratedAnswer]) -> list[CuratedAnswer]:
            index = _index(current, answer_id)
            edited = checked(CuratedAnswer(**{**asdict(current[index]), **changes}))
            if "question" in changes and "language" not in changes:
                edited.language = detect_language(edited.question)
            edited.updated = time.time()
            current[index] = edited
            result.append(edited)
            return current

        self._change(change)
        return result[0]

    def remove(self, answer_id: str) -> None:
        def change(current: list[CuratedAnswer]) -> list[CuratedAnswer]:
            index = _index(current, answer_id)
            return current[:index] + current[index + 1 :]

        self._change(change)

    def _change(self, change) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        lock = self.root / "write.lock"
        with write_lock(lock, self.lock_timeout_s, f"curated answers {self.root}", self.lock_url):
            version, current = self.read()
            answers = change(current)
            data = json.dumps(
                {"version": version + 1, "answers": [asdict(a) for a in answers]},
                ensure_ascii=False,
                indent=1,
            ).encode("utf-8")
            versions = self.root / "versions"
            versions.mkdir(exist_ok=True)
            write_atomic(versions / f"v{version + 1:06d}.json", data)
            write_atomic(self.file, data)
            for old in sorted(versions.glob("v*.json"))[: -self.keep_versions]:
                old.unlink(missing_ok=True)
            return version + 1

    # -- hits --
    def _hits_db(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.root / "hits.sqlite", timeout=5)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS hits (id TEXT PRIMARY KEY, count INTEGER, last REAL)")
        return db

    def record_hit(self, answer_id: str) -> None:
        with self._hits_db() as db:
            db.execute(
                "INSERT INTO hits VALUES (?, 1, ?) ON CONFLICT(id) DO UPDATE SET count = count + 1, last = ?",
                (answer_id, time.time(), time.time()),
            )
        db.close()

    def hits(self) -> dict[str, tuple[int, float]]:
        """answer id -> (times served, when last served)."""
        if not (self.root / "hits.sqlite").exists():
            return {}
        db = self._hits_db()
        try:
            return {row[0]: (row[1], row[2]) for row in db.execute("SELECT id, count, last FROM hits")}
        finally:
            db.close()


def _key(answer: CuratedAnswer) -> tuple:
    return (answer.question.casefold(), answer.language, answer.collection)


def _index(answers: list[CuratedAnswer], answer_id: str) -> int:
    for index, answer in enumerate(answers):
        if answer.id == answer_id:
            return index
    raise NotFoundError(f"curated answer '{answer_id}' does not exist", param="id")


# -- files, documents, staleness --
def read_faq_file(
    path: Path, collection: str | None = None, author: str | None = None
) -> list[CuratedAnswer]:
    """A FAQ file read as the knowledge base reads it (knowledge/loaders.py: jsonl {question, answer}, or csv
    with question and answer columns), one curated answer per pair."""
    path = Path(path)
    if path.suffix.lower() not in (".jsonl", ".csv"):
        raise RagtuneError(f"{path}: curated answers are imported from FAQ files (.jsonl or .csv)")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise RagtuneError(f"{path}: cannot read it ({err.strerror})") from err
    loaded = load(str(path), data)
    return [
        CuratedAnswer(
            question=q, answer=a, collection=collection, author=author, origin=f"import:{path.name}"
        )
        for q, a in loaded.pairs
    ]


def cited(refs: list[str], documents: list[dict]) -> list[dict]:
    """The knowledge-base documents that `refs` name (a document id or a source), as an answer records
    them; RagtuneError names a reference the live version does not hold."""
    found = []
    for ref in dict.fromkeys(refs):
        doc = next((d for d in documents if ref in (d["doc_id"], d["source"])), None)
        if doc is None:
            raise NotFoundError(
                f"source '{ref}': no document with that id or source in the knowledge base", param="sources"
            )
        found.append(
            {
                "document_id": doc["doc_id"],
                "source": doc["source"],
                "title": doc["title"],
                "content_hash": doc["content_hash"],
            }
        )
    return found


def staleness(answer: CuratedAnswer, documents: dict[str, dict]) -> list[str]:
    """Why the answer may be out of date: each cited document removed or replaced since it was written
    (`documents`: the live version's, by document id). [] when it is current."""
    reasons = []
    for source in answer.sources:
        doc = documents.get(source["document_id"])
        if doc is None:
            reasons.append(f"{source['source']} was removed")
        elif doc["content_hash"] != source.get("content_hash"):
            reasons.append(f"{source['source']} was replaced")
    return reasons


def asked(query: ResolvedQuery) -> list[str]:
    """The question as completed from the conversation (retrieval.query), and for a follow-up also the
    turn as written with the product names and codes it leans on ("Can I take it on a plane?" after a
    question about the PowerCell 20K): the completed text carries the earlier turns' other words too."""
    if not query.is_follow_up:
        return [query.text]
    names = [*CODE.findall(query.carried), *product_names(query.carried)]
    return [query.text, " ".join([query.question, *dict.fromkeys(names)])]


def listed(store: AnswerStore, documents: list[dict], stale_only: bool = False) -> list[dict]:
    """The answers as editors see them: each with its hit count, last hit and why it may be stale."""
    by_id, hits = {d["doc_id"]: d for d in documents}, store.hits()
    rows = []
    for answer in store.all():
        count, last = hits.get(answer.id, (0, None))
        stale = staleness(answer, by_id)
        if stale or not stale_only:
            rows.append({**asdict(answer), "hits": count, "last_hit": last, "stale": stale})
    return rows


def from_correction(
    messages: list[dict],
    corrected: str,
    cited_ids: list[str],
    documents: list[dict],
    retrieval: RetrievalSettings,
    response_id: str,
    author: str | None = None,
) -> CuratedAnswer:
    """A staff correction of a logged answer as a curated answer: the question as the conversation completes
    it (what serving matches with), the documents the answer cited that the knowledge base still holds."""
    query = resolve_query(messages, retrieval)
    if not query.question.strip():
        raise RagtuneError(f"response_id '{response_id}': the logged conversation has no user question")
    question = query.text if not query.is_follow_up else asked(query)[1]
    live = {d["doc_id"] for d in documents}
    return CuratedAnswer(
        question=question,
        answer=corrected,
        sources=cited([i for i in cited_ids if i in live], documents),
        author=author,
        origin=f"feedback:{response_id}",
    )
