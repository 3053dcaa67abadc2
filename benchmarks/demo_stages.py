"""Stages of a demo experiment (benchmarks/rl_demo.py, benchmarks/kto_demo.py): each a ragtune command run in
the experiment's own ragtune home, in a fresh process, its wall time, peak RSS and machine kept in
OUT/stages.json so that the stages can run one at a time (on different machines, too) and the report shows
each stage's cost and where it was measured."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from docs_table import this_machine

REPO = Path(__file__).resolve().parents[1]
RAGTUNE = str(REPO / ".venv" / "bin" / "ragtune")


def environment(out: Path, **settings: str) -> dict:
    """The environment of OUT's ragtune home (no user config), with `settings` as environment variables."""
    return {
        **os.environ,
        "RAGTUNE_HOME": str(out / "home"),
        "RAGTUNE_CONFIG": str(out / "no-config.yaml"),
        **settings,
    }


def timed(name: str, command: list[str], out: Path, **settings: str) -> dict:
    """Run `command` in OUT's ragtune home; its wall time, peak RSS and machine go into OUT/stages.json."""
    peak_file = out / f"{name}.peak"
    started = time.monotonic()
    subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(peak_file), *command],
        cwd=REPO,
        env=environment(out, **settings),
        check=True,
    )
    record = {
        "command": " ".join(command).replace(RAGTUNE, "ragtune").replace(sys.executable, "python"),
        "wall_s": round(time.monotonic() - started, 1),
        "peak_rss_gib": round(int(peak_file.read_text().split()[-1]) / 2**20, 2),
        "machine": this_machine(),
    }
    stages = load_stages(out)
    save_stages(out, {**stages, name: {**stages.get(name, {}), **record}})
    print(f"{name}: {record['wall_s']:.0f} s, peak RSS {record['peak_rss_gib']} GiB", flush=True)
    return record


def load_stages(out: Path) -> dict:
    path = out / "stages.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def save_stages(out: Path, stages: dict) -> None:
    (out / "stages.json").write_text(json.dumps(stages, indent=2), encoding="utf-8")
