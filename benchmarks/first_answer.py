"""How soon a newcomer's `make serve` answers: from `make serve` on a home with no knowledge base and no demo
adapter (setup done: the models are prepared) to the server listening, its first chat answer, and the demo
adapter, trained in the background, listed in GET /v1/models.

Usage: python benchmarks/first_answer.py [--timeout-min 30] [--write-docs]
(--write-docs: the table goes into docs/benchmarks.md, see benchmarks/docs_table.py)

Run it alone: it starts the server and trains the demo adapter. The home is a temporary folder whose models
folder is this checkout's .ragtune/models; the make targets' setup step is taken as done.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docs_table  # this folder's helper, imported before the folder leaves sys.path
import httpx

# This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from core.process import free_port

ROOT = Path(__file__).resolve().parent.parent

QUESTIONS = {"en": "How long do I have to return a gadget?", "zh": "退货期限是多久？"}
# Asked once while the demo adapter trains and once after (other questions, so no answer comes from the cache)
WHILE_TRAINING, AFTER = "What does express delivery cost?", "How fast do you ship an order?"


def chat(http: httpx.Client, model: str, question: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": 64}
    return http.post("/v1/chat/completions", json=body)


def measure(home: Path, timeout_s: float) -> dict[str, float]:
    (home / "models").symlink_to(ROOT / ".ragtune" / "models")
    port = free_port()
    env = {**os.environ, "RAGTUNE_HOME": str(home), "RAGTUNE_SERVER__PORT": str(port)}
    log = home / "make-serve.log"
    command = ["make", "-o", ".venv/.ragtune-setup-done", "serve"]  # setup done: its stamp is not checked
    times: dict[str, float] = {}
    said: set[str] = set()
    start = time.monotonic()
    with log.open("w") as out:
        make = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as http:
            while "demo listed" not in times:
                if make.poll() is not None:
                    raise SystemExit(f"make serve ended ({make.returncode}):\n{log.read_text()[-3000:]}")
                if time.monotonic() - start > timeout_s:
                    raise SystemExit(f"not done in {timeout_s:.0f} s: {times}\n{log.read_text()[-3000:]}")
                step(http, times, start, log)
                for what in times.keys() - said:  # as it comes: a run cut short still tells what it saw
                    print(f"{what}: {times[what]:.1f} s", flush=True)
                    said.add(what)
                time.sleep(1)
    finally:
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C does: the server, its engine and the training stop
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    text = log.read_text()
    if "trained and loaded" not in text:
        raise SystemExit(f"the demo adapter was not loaded:\n{text[-3000:]}")
    return times


def step(http: httpx.Client, times: dict[str, float], start: float, log: Path) -> None:
    """The next thing to wait for: the server ready, an answer in each language, the demo adapter listed."""
    try:
        if "server ready" not in times:
            if http.get("/readyz").status_code == 200:
                times["server ready"] = time.monotonic() - start
            return
        models = [card["id"] for card in http.get("/v1/models").json()["data"]]
        for language, question in QUESTIONS.items():
            key = f"first answer ({language})"
            if key not in times:
                answer = chat(http, models[0], question)
                answer.raise_for_status()
                assert answer.json()["choices"][0]["message"]["content"].strip(), answer.text
                times[key] = time.monotonic() - start
        training = "[demo training] step " in log.read_text()  # past loading and tokenizing
        if training and "demo" not in models and "a base answer while the demo adapter trains" not in times:
            times["a base answer while the demo adapter trains"] = timed(http, models[0], WHILE_TRAINING)
        if "demo" in models:
            times["demo listed"] = time.monotonic() - start
            chat(http, "demo", QUESTIONS["en"]).raise_for_status()
            times["a base answer once it is listed"] = timed(http, models[0], AFTER)
    except httpx.TransportError:
        pass  # not listening yet


def timed(http: httpx.Client, model: str, question: str) -> float:
    begin = time.monotonic()
    chat(http, model, question).raise_for_status()
    return time.monotonic() - begin


def minutes(seconds: float) -> str:
    whole, part = divmod(round(seconds), 60)
    return f"{whole} min {part:02d} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout-min", type=float, default=30)
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ragtune-first-answer-") as home:
        times = measure(Path(home), args.timeout_min * 60)
    since = [
        [f"`make serve` to {what}", minutes(seconds)] for what, seconds in times.items() if what[0] != "a"
    ]
    took = [[what, f"{seconds:.1f} s"] for what, seconds in times.items() if what[0] == "a"]
    table = docs_table.markdown_table(["", "time"], since + took)
    print(table)
    if args.write_docs:
        note = (
            "`make serve` on a home with no knowledge base and no demo adapter (setup done: models prepared), "
            "nothing else running; the demo adapter trains in the background at the lowest CPU priority."
        )
        docs_table.write_table("first-answer", table, note=note)


if __name__ == "__main__":
    main()
