"""An adapter trained in a child process while the server serves: its output becomes log lines, its progress
what a request for it is told, and it is loaded only when the child succeeds. The child here is a small
Python script (the real training runs in tests/server/test_serve_trains_demo.py)."""

import asyncio
import os
import sys
from dataclasses import dataclass, field

from core.errors import RagtuneError
from server.background_training import AdapterJob, _lines, start_training


@dataclass
class Served:
    """What start_training uses of the server's Runtime, recording the loads it asks for."""

    training: dict = field(default_factory=dict)
    refused: dict = field(default_factory=dict)
    loaded: list = field(default_factory=list)
    refuse_load: str | None = None

    async def load_adapter(self, name: str) -> None:
        if self.refuse_load:
            raise RagtuneError(self.refuse_load)
        self.loaded.append(name)


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def run(served: Served, command: list[str]) -> list[str]:
    said: list[str] = []

    async def train() -> None:
        await start_training(served, AdapterJob("demo", command), said.append)

    asyncio.run(train())
    return said


def test_a_progress_bar_becomes_one_line_in_the_state_it_ends_in():
    async def lines(chunks: list[bytes]) -> list[str]:
        stream = asyncio.StreamReader()
        for chunk in chunks:
            stream.feed_data(chunk)
        stream.feed_eof()
        return [line async for line in _lines(stream)]

    bar = [
        b"tokenizing:   0%| 0/9\r",
        b"tokenizing:  50%| 4/9\rtokeni",
        b"zing: 100%| 9/9\n",
        b"done\r\nlast",
    ]
    assert asyncio.run(lines(bar)) == ["tokenizing: 100%| 9/9", "done", "last"]
    assert asyncio.run(lines(["训练 ✓\n".encode()[:4], "训练 ✓\n".encode()[4:]])) == ["训练 ✓"]


def test_a_trained_adapter_is_loaded_and_its_output_is_in_the_log():
    served = Served()
    said = run(served, child("print('training 2 steps'); print('step 2/2 (100 %), loss 1.000', flush=True)"))
    assert served.loaded == ["demo"] and served.training == {} and served.refused == {}
    assert "[demo training] step 2/2 (100 %), loss 1.000" in said
    assert said[-1] == "adapter 'demo' trained and loaded: GET /v1/models lists it"


def test_while_it_trains_the_latest_progress_line_is_what_requests_are_told(tmp_path):
    served, go_on = Served(), tmp_path / "go-on"
    script = (
        "import pathlib, time\n"
        "print('step 3/8 (37 %), about 2 min left', flush=True)\n"
        f"while not pathlib.Path({str(go_on)!r}).exists(): time.sleep(0.05)\n"
    )

    async def watch() -> str:
        job = start_training(served, AdapterJob("demo", child(script)), print)
        while served.training.get("demo", "starting") == "starting":
            await asyncio.sleep(0.05)
        seen = served.training["demo"]
        go_on.touch()
        await job
        return seen

    assert asyncio.run(watch()) == "step 3/8 (37 %), about 2 min left"
    assert served.loaded == ["demo"] and served.training == {}


def test_a_failed_training_is_logged_with_why_and_nothing_is_loaded():
    served = Served()
    said = run(
        served, child("import sys; print('step 1/4 (25 %)'); sys.exit('demo-recipe.yaml: no such file')")
    )
    assert served.loaded == [] and served.training == {}
    assert (
        "exit code 1" in served.refused["demo"] and "demo-recipe.yaml: no such file" in served.refused["demo"]
    )
    assert said[-1].startswith("adapter 'demo': training failed (exit code 1: ")
    assert said[-1].endswith("the server goes on without it")


def test_an_adapter_the_server_refuses_after_training_is_reported_not_raised():
    served = Served(refuse_load="adapter 'demo': rank 64 is not a whole number up to engine.max_lora_rank 32")
    said = run(served, child("pass"))
    assert served.loaded == [] and "max_lora_rank" in served.refused["demo"]
    assert "trained but not loaded" in said[-1]


def test_a_command_that_cannot_start_is_reported():
    served = Served()
    said = run(served, ["/nonexistent/trainer"])
    assert "cannot start /nonexistent/trainer" in served.refused["demo"] and "training failed" in said[-1]


def test_stopping_the_server_stops_the_training(tmp_path):
    served, pid_file = Served(), tmp_path / "pid"
    script = f"import os, pathlib, time; pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); time.sleep(60)"

    async def start_then_stop() -> int:
        job = start_training(served, AdapterJob("demo", child(script)), print)
        while not pid_file.exists() or not pid_file.read_text():
            await asyncio.sleep(0.05)
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
        return int(pid_file.read_text())

    pid = asyncio.run(start_then_stop())
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive and served.loaded == [] and served.training == {}
