"""An adapter trained in a child process while the server serves (`ragtune serve --train-demo`): the child's
output goes to the server's log, a request for the adapter meanwhile gets 503 with the latest progress line,
and the server loads the adapter when the child succeeds. A failed run is logged and leaves the server
serving what it served."""

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from core.errors import RagtuneError

PROGRESS_PREFIX = "step "  # training.progress.ProgressLines' lines (the server does not import training)
TAIL_LINES = 5  # of the child's output, quoted in the log when it fails
# Its lines reach the log as they are printed, each whole (rich wraps at 80 columns off a terminal).
CHILD_ENV = {"PYTHONUNBUFFERED": "1", "COLUMNS": "250"}


@dataclass(frozen=True)
class AdapterJob:
    name: str  # the adapter it writes into adapters_dir
    command: list[str]  # run as it is: the caller decides niceness and threads


def _print(line: str) -> None:
    print(line, flush=True)


def start_training(runtime, job: AdapterJob, say: Callable[[str], None] = _print) -> asyncio.Task:
    """Run `job` in a task of the running loop; `runtime` is the server's Runtime, where the adapter counts as
    in training from now on. Cancelling the task stops the child."""
    runtime.training[job.name] = "starting"
    return asyncio.create_task(_train(runtime, job, say))


async def _train(runtime, job: AdapterJob, say: Callable[[str], None]) -> None:
    name = job.name
    say(f"adapter '{name}': training in the background; the base model answers meanwhile")
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        process = await asyncio.create_subprocess_exec(
            *job.command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **CHILD_ENV},
        )
    except OSError as err:
        return _failed(runtime, name, f"cannot start {job.command[0]}: {err}", say)
    try:
        async for line in _lines(process.stdout):
            tail.append(line)
            say(f"[{name} training] {line}")
            if line.startswith(PROGRESS_PREFIX):
                runtime.training[name] = line
        code = await process.wait()
    finally:
        if process.returncode is None:  # the server is stopping
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            await process.wait()
            runtime.training.pop(name, None)
    if code != 0:
        return _failed(runtime, name, f"exit code {code}: " + " | ".join(tail), say)
    try:
        await runtime.load_adapter(name)
    except RagtuneError as err:  # the engines report what they cannot load as one
        return _failed(runtime, name, f"trained but not loaded: {err}", say)
    runtime.training.pop(name, None)
    say(f"adapter '{name}' trained and loaded: GET /v1/models lists it")


def _failed(runtime, name: str, why: str, say: Callable[[str], None]) -> None:
    runtime.training.pop(name, None)
    runtime.refused[name] = f"training failed ({why})"
    say(f"adapter '{name}': training failed ({why}); the server goes on without it")


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """The lines of a child's output. A progress bar redraws itself with carriage returns: only the state it
    ends in (followed by a newline) is a line, the redraws before it are dropped."""
    pending = b""
    while chunk := await stream.read(4096):
        pending += chunk
        *complete, pending = pending.replace(b"\r\n", b"\n").split(b"\n")
        pending = pending[pending.rfind(b"\r", 0, len(pending) - 1) + 1 :]  # a bar's redraws, not kept
        for raw in complete:
            text = raw.rsplit(b"\r", 1)[-1].decode(errors="replace").rstrip()
            if text:
                yield text
    if text := pending.rsplit(b"\r", 1)[-1].decode(errors="replace").rstrip():
        yield text
