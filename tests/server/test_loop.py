"""The improvement loop end to end, each step a command or route a user runs: chats on the live server →
feedback with a correction → `ragtune data export` → `ragtune train dpo` → the new adapter loaded through the
admin API → an A/B experiment splits traffic between old and new → feedback on both → `ragtune ab report`."""

import json
import os
import subprocess
import sys

import httpx
import pytest

from training.cleaning import normalise_text

pytestmark = pytest.mark.slow
QUESTIONS = [
    "How many days do I have to return a gadget?",
    "How fast do you ship?",
    "Is express delivery extra?",
]


def ragtune(server, *args: str) -> str:
    env = {**os.environ, "RAGTUNE_HOME": str(server.home), "RAGTUNE_CHAT_MODEL": server.model_path}
    command = [sys.executable, "-c", "from ragtune.cli import main; main()", *args]
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def feedback(server, **body) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/feedback",
        json=body,
        timeout=60,
        headers={"Authorization": f"Bearer {server.client_key}"},
    )


def ask(server, model: str, question: str, user: str | None = None):
    return server.client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], temperature=0, max_tokens=16, user=user
    )


def test_feedback_becomes_an_adapter_that_an_experiment_compares(live_server, tmp_path):
    replies = [ask(live_server, "tiny", q) for q in QUESTIONS]
    corrected = "You have 45 days to return any gadget for a full refund [1]."
    assert (
        feedback(
            live_server, response_id=replies[0].id, rating="down", corrected_answer=corrected
        ).status_code
        == 200
    )
    assert feedback(live_server, response_id=replies[1].id, rating="up").status_code == 200
    duplicate = feedback(live_server, response_id=replies[1].id, rating="down")
    assert duplicate.status_code == 409
    assert feedback(live_server, response_id="chatcmpl-unknown", rating="up").status_code == 404

    export = tmp_path / "export"
    ragtune(live_server, "data", "export", "--out", str(export))
    pairs = [json.loads(line) for line in (export / "dpo.jsonl").read_text().splitlines()]
    answer = normalise_text(replies[0].choices[0].message.content)[0]  # the export cleans what it writes
    assert any(p["chosen"] == corrected and p["rejected"] == answer for p in pairs), (answer, pairs)

    dpo = ["train", "dpo", "--data", str(export / "dpo.jsonl"), "--from", "tiny", "--name", "tiny-v2"]
    ragtune(live_server, *dpo, "--max-steps", "2")
    with live_server.admin() as admin:
        admin.post("/admin/adapters/tiny-v2/load").raise_for_status()
        spec = {
            "name": "dpo-trial",
            "model": "assistant",
            "variants": [{"name": "old", "adapter": "tiny"}, {"name": "new", "adapter": "tiny-v2"}],
        }
        assert admin.post("/admin/experiments", json=spec).status_code == 201
    assert "assistant" in [m.id for m in live_server.client().models.list().data]

    seen = {}
    for number in range(12):
        user = f"customer-{number}"
        reply = ask(live_server, "assistant", QUESTIONS[number % 3], user=user)
        variant = reply.model_extra["variant"]
        assert variant["experiment"] == "dpo-trial"
        assert ask(live_server, "assistant", "Hi", user=user).model_extra["variant"] == variant  # sticky
        seen[reply.id] = variant["variant"]
        feedback(live_server, response_id=reply.id, rating="up" if number % 2 else "down").raise_for_status()
    assert set(seen.values()) == {"old", "new"}
    text = httpx.get(f"{live_server.url}/metrics", timeout=30).text
    assert 'ragtune_experiment_requests_total{experiment="dpo-trial",variant="new"}' in text

    report = ragtune(live_server, "ab", "report", "dpo-trial", "--out", str(tmp_path / "ab"))
    assert "old" in report and "new" in report and "[" in report  # both variants, with intervals
    assert (tmp_path / "ab" / "report.html").exists()
    with live_server.admin() as admin:
        admin.delete("/admin/experiments/dpo-trial").raise_for_status()
