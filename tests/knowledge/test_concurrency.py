"""An editor adds documents while the server answers searches, on threads of one process sharing one
embedder: no search and no ingest fails, and every document goes in."""

import threading

from tests.knowledge.test_knowledge_base import RETURNS


def manual(n: int) -> str:
    steps = (f"Step {i}: hold button {n} for {i} seconds, until the light turns blue." for i in range(80))
    return f"# Manual {n}\n\n" + "\n\n".join(steps)


def test_ingest_and_searches_on_parallel_threads_do_not_trip_over_the_tokenizer(make_kb):
    kb = make_kb(chunk_tokens=48, chunk_overlap=8)
    kb.add_document("returns.md", RETURNS.encode())
    errors, done = [], threading.Event()

    def search() -> None:
        while not done.is_set():
            try:
                assert kb.search("how many days to return an item", k=1)[0].source == "returns.md"
            except Exception as err:  # noqa: BLE001 (any failure on this thread is the finding)
                errors.append(repr(err))

    def ingest() -> None:
        try:
            for n in range(3):
                kb.add_document(f"manual-{n}.md", manual(n).encode())
        except Exception as err:  # noqa: BLE001
            errors.append(repr(err))
        finally:
            done.set()

    threads = [threading.Thread(target=f) for f in (ingest, search, search)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == [] and len(kb.documents()) == 4
    assert kb.search("hold button 2 for 7 seconds", k=1)[0].source == "manual-2.md"


def test_a_question_is_embedded_while_a_long_encode_runs(embedder, monkeypatch):
    """The answer check (or an upload) encoding many texts must not hold up a question's search: the query is
    embedded while the other encode is still under way, and gets the vector a plain encode gives it."""
    question = "How long do I have to return a gadget?"
    expected = embedder.encode([question])[0]
    started, release = threading.Event(), threading.Event()
    plain_encode = embedder.model.encode

    def long_encode(*args, **kwargs):
        started.set()
        release.wait(timeout=120)
        return plain_encode(*args, **kwargs)

    monkeypatch.setattr(embedder.model, "encode", long_encode)
    other = threading.Thread(target=embedder.encode, args=(["an answer sentence", "a source sentence"],))
    other.start()
    try:
        assert started.wait(timeout=60)
        vectors = []
        query = threading.Thread(target=lambda: vectors.append(embedder.encode_query(question)))
        query.start()
        query.join(timeout=60)
        assert vectors and other.is_alive(), "the query waited for the other encode"
        assert abs(vectors[0] - expected).max() < 1e-5
    finally:
        release.set()
        other.join(timeout=120)


def test_questions_arriving_together_are_embedded_together_each_with_its_own_vector(embedder, monkeypatch):
    """A burst of questions (a front end's busy minute) waits for one batch encode, not for each other's in
    turn; every question still gets the vector a plain encode gives it, in English and Chinese."""
    questions = ["How long do I have to return a gadget?", "退货要多少天？", "Where is my parcel?", "发票怎么开？"]
    expected = embedder.encode(questions)
    started, release = threading.Event(), threading.Event()
    plain_encode, batches = embedder._query_lane.model.encode, []

    def held_encode(texts, *args, **kwargs):
        batches.append(list(texts))
        started.set()
        release.wait(timeout=120)  # the first question is being embedded while the others arrive
        return plain_encode(texts, *args, **kwargs)

    monkeypatch.setattr(embedder._query_lane.model, "encode", held_encode)
    vectors: dict[str, object] = {}

    def ask(question: str) -> None:
        vectors[question] = embedder.encode_query(question)

    first = threading.Thread(target=ask, args=(questions[0],))
    first.start()
    assert started.wait(timeout=120)
    others = [threading.Thread(target=ask, args=(q,)) for q in questions[1:]]
    for thread in others:
        thread.start()
    while len(embedder._query_lane._waiting) < len(others):
        threading.Event().wait(0.01)
    release.set()
    for thread in [first, *others]:
        thread.join(timeout=120)
    assert len(batches) == 2 and batches[0] == questions[:1] and sorted(batches[1]) == sorted(questions[1:])
    for question, vector in zip(questions, expected):
        assert abs(float(vectors[question] @ vector) - 1.0) < 1e-4
