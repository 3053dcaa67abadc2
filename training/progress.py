"""Training progress as plain lines ("step 12/60 (20 %), loss 1.234, about 3 min left") for a log that is
not a terminal: progress bars there are a stream of carriage returns. `ragtune serve --train-demo` reads
these lines from the background training and answers requests for the adapter with the latest one."""

import time
from collections.abc import Callable

from transformers import TrainerCallback

PROGRESS_PREFIX = "step "  # how a progress line starts (the server looks for it)


def _print(line: str) -> None:
    print(line, flush=True)


class ProgressLines(TrainerCallback):
    """One line at most every `every_s` seconds, and one at the last step."""

    def __init__(self, every_s: float = 10.0, say: Callable[[str], None] = _print):
        self.every_s, self.say = every_s, say
        self.started = self.said = 0.0
        self.loss: float | None = None
        self.reward: float | None = None  # online RL's mean reward (training/rl.py)

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = self.said = time.monotonic()
        self.say(f"training {state.max_steps} steps")

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.loss = (logs or {}).get("loss", self.loss)
        self.reward = (logs or {}).get("reward", self.reward)

    def on_step_end(self, args, state, control, **kwargs):
        now, step, total = time.monotonic(), state.global_step, state.max_steps
        if now - self.said < self.every_s and step < total:
            return
        self.said = now
        left_s = (now - self.started) / max(step, 1) * (total - step)
        loss = f", loss {self.loss:.3f}" if self.loss is not None else ""
        reward = f", reward {self.reward:.3f}" if self.reward is not None else ""
        self.say(
            f"{PROGRESS_PREFIX}{step}/{total} ({100 * step // max(total, 1)} %){loss}{reward}, {_minutes(left_s)}"
        )


def progress_arguments(lines: bool) -> dict:
    """What a train_* function takes for its progress: progress bars, or with `lines` ProgressLines instead."""
    return {"progress": not lines, "callbacks": (ProgressLines(),) if lines else ()}


def _minutes(seconds: float) -> str:
    return "less than a minute left" if seconds < 60 else f"about {round(seconds / 60)} min left"
