"""Time to the first token of a curated answer against a generated one, same server, same questions: the demo
knowledge base with the demo FAQ files imported as curated answers, each FAQ question asked word for word
(streamed, RAG on), once as served (the curated answer) and once with "curated": false (retrieval, prompt and
generation). Concurrency and answer length as benchmarks/serving.py.

    python benchmarks/curated_ttft.py [--home /tmp/ragtune-curated-ttft]
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

# This folder comes first on sys.path and its scripts would shadow the packages of the same name: it moves
# last (benchmarks.serving still finds its docs_table there), after the repository root.
BENCHMARKS = Path(__file__).resolve().parent
sys.path[:] = [str(BENCHMARKS.parent), *(p for p in sys.path if Path(p or ".").resolve() != BENCHMARKS)]
sys.path.append(str(BENCHMARKS))

from serving import CONCURRENCY, REPO, run_load, serving

FAQ_FILES = [REPO / "examples/knowledge/faq.jsonl", REPO / "examples/knowledge/faq_zh.csv"]


def prepare(home: Path, model_path: str) -> list[str]:
    """The demo knowledge base and its FAQ files as curated answers; the FAQ questions."""
    from core.settings import Settings
    from knowledge import KnowledgeBase
    from knowledge.answers import AnswerStore, read_faq_file

    settings = Settings(home=home, chat_model=model_path)
    kb = KnowledgeBase.open(settings.kb_dir, settings.knowledge, settings.retrieval)
    kb.sync(REPO / "examples" / "knowledge", collection=settings.knowledge.default_collection)
    store = AnswerStore(
        settings.answers_dir, settings.knowledge.lock_timeout_s, settings.knowledge.keep_versions
    )
    answers = [answer for path in FAQ_FILES for answer in read_faq_file(path)]
    store.add(answers)
    return [answer.question for answer in answers]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "ragtune-curated-ttft")
    args = parser.parse_args()
    from core.chat_model import EMBEDDED_CHAT_MODEL, prepare_chat_model
    from core.process import free_port

    model_path = prepare_chat_model(EMBEDDED_CHAT_MODEL, REPO / ".ragtune-test" / "models")
    questions = prepare(args.home, model_path)
    prompts = [[{"role": "user", "content": q}] for q in questions[: 3 * CONCURRENCY]]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RAGTUNE_HOME": str(args.home), "RAGTUNE_CHAT_MODEL": model_path}
    command = [sys.executable, "-c", "from ragtune.cli import main; main()", "serve", "--port", str(port)]
    figures = {}
    with serving("ragtune", command, env, args.home / "server.log", url, "/readyz"):
        model = "SmolLM2-135M-Instruct"
        figures["curated"] = asyncio.run(run_load("curated answers", url, model, prompts, {"curated": True}))
        figures["generated"] = asyncio.run(run_load("generated", url, model, prompts, {"curated": False}))
    ratio = figures["generated"]["ttft_mean_s"] / figures["curated"]["ttft_mean_s"]
    print(f"time to first token, generated / curated: {ratio:.0f}x")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
