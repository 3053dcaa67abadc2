"""The feedback routes as a client and an admin see them: status codes and OpenAI-shaped errors."""

from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.settings import FeedbackSettings, ServerSettings, Settings
from feedback.service import FeedbackService
from server.errors import install_error_handlers
from server.routes.feedback import router
from tests.feedback.conftest import chat

CLIENT = {"Authorization": "Bearer client-key"}
OTHER_CLIENT = {"Authorization": "Bearer other-key"}
ADMIN = {"Authorization": "Bearer admin-key"}
SPEC = {
    "name": "exp-1",
    "model": "assistant",
    "variants": [{"name": "base"}, {"name": "tuned", "adapter": "demo"}],
}


async def no_other_replica() -> None:
    """The runtime stand-in's follow_shared: no other replica records adapters."""


@pytest.fixture
def api(tmp_path):
    settings = Settings(
        home=tmp_path,
        feedback=FeedbackSettings(),
        server=ServerSettings(
            client_keys=[{"key": "client-key", "name": "widget"}, "other-key"], admin_keys=["admin-key"]
        ),
    )
    service = FeedbackService(settings.feedback, settings.pii, settings.home).start()
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.settings, app.state.feedback = settings, service
    app.state.runtime = SimpleNamespace(adapters={"demo": object()}, follow_shared=no_other_replica)
    service.record(chat("chatcmpl-1", client="widget"))  # the responses the widget's key was given
    service.record(chat("chatcmpl-2", model="base", answer="Unplug it.", client="widget"))
    service.record(chat("chatcmpl-3", client="client-2"))  # the other key's (named by its position)
    with TestClient(app) as client:
        yield client
    service.close()


def test_feedback_round_trip(api):
    reply = api.post(
        "/v1/feedback",
        headers=CLIENT,
        json={"response_id": "chatcmpl-1", "rating": "up", "preferred_over": "chatcmpl-2"},
    )
    assert reply.status_code == 200
    assert reply.json()["object"] == "feedback" and reply.json()["preferred_over"] == "chatcmpl-2"
    again = api.post("/v1/feedback", headers=CLIENT, json={"response_id": "chatcmpl-1", "rating": "down"})
    assert again.status_code == 409 and "already has feedback" in again.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"response_id": "chatcmpl-x", "rating": "up"}, 404, "no logged response"),
        ({"response_id": "chatcmpl-1", "rating": "great"}, 400, "rating"),
        ({"response_id": "chatcmpl-1", "rating": "up", "stars": 5}, 400, "stars"),
        (
            {
                "response_id": "chatcmpl-1",
                "rating": "down",
                "corrected_answer": "Hold the reset button for ten seconds [1].",
            },
            400,
            "same as the logged answer",
        ),
    ],
)
def test_feedback_errors(api, body, status, words):
    reply = api.post("/v1/feedback", headers=CLIENT, json=body)
    assert reply.status_code == status
    assert words in reply.json()["error"]["message"]


def test_a_key_rates_only_the_responses_it_was_given(api):
    for response_id in ("chatcmpl-1", "chatcmpl-2"):
        body = {"response_id": response_id, "rating": "down"}
        theirs = api.post("/v1/feedback", headers=OTHER_CLIENT, json=body)
        assert theirs.status_code == 404 and theirs.json()["error"]["param"] == "response_id"
    preferred = {"response_id": "chatcmpl-3", "rating": "up", "preferred_over": "chatcmpl-1"}
    mixed = api.post("/v1/feedback", headers=OTHER_CLIENT, json=preferred)
    assert mixed.status_code == 404 and mixed.json()["error"]["param"] == "preferred_over"
    own = api.post("/v1/feedback", headers=OTHER_CLIENT, json={"response_id": "chatcmpl-3", "rating": "up"})
    assert own.status_code == 200
    staff = api.post("/v1/feedback", headers=ADMIN, json={"response_id": "chatcmpl-1", "rating": "down"})
    assert staff.status_code == 200  # an admin key rates (and corrects) any response


def test_keys_are_checked(api):
    assert api.post("/v1/feedback", json={"response_id": "chatcmpl-1", "rating": "up"}).status_code == 401
    assert api.get("/admin/experiments", headers=CLIENT).status_code == 403


def test_experiments_start_change_and_stop(api):
    started = api.post("/admin/experiments", headers=ADMIN, json=SPEC)
    assert started.status_code == 201 and started.json()["running"]
    changed = api.put("/admin/experiments/exp-1", headers=ADMIN, json={"weights": {"tuned": 3}})
    assert [v["weight"] for v in changed.json()["variants"]] == [1.0, 3.0]
    listed = api.get("/admin/experiments", headers=ADMIN).json()["data"]
    assert [(e["name"], e["running"]) for e in listed] == [("exp-1", True)]
    stopped = api.delete("/admin/experiments/exp-1", headers=ADMIN)
    assert stopped.status_code == 200 and not stopped.json()["running"]
    assert api.delete("/admin/experiments/exp-1", headers=ADMIN).status_code == 409
    assert api.delete("/admin/experiments/nope", headers=ADMIN).status_code == 404


def test_experiment_errors(api):
    unknown = {**SPEC, "variants": [{"name": "base"}, {"name": "x", "adapter": "not-served"}]}
    reply = api.post("/admin/experiments", headers=ADMIN, json=unknown)
    assert reply.status_code == 404 and "not-served" in reply.json()["error"]["message"]
    reply = api.post(
        "/admin/experiments", headers=ADMIN, json={**SPEC, "variants": [{"name": "a"}, {"name": "a"}]}
    )
    assert reply.status_code == 400 and "repeated: a" in reply.json()["error"]["message"]
    api.post("/admin/experiments", headers=ADMIN, json=SPEC)
    reply = api.put("/admin/experiments/exp-1", headers=ADMIN, json={"weights": {"tuned": 0}})
    assert reply.status_code == 400 and "greater than 0" in reply.json()["error"]["message"]


def test_export_returns_or_writes_the_files(api, tmp_path):
    api.post(
        "/v1/feedback",
        headers=CLIENT,
        json={"response_id": "chatcmpl-1", "rating": "up", "preferred_over": "chatcmpl-2"},
    )
    reply = api.post("/admin/export", headers=ADMIN, json={"rating": "up"}).json()
    assert (reply["sft"], reply["dpo"]) == (1, 1)
    assert '"chosen": "Hold the reset button' in reply["content"]["dpo.jsonl"]
    written = api.post("/admin/export", headers=ADMIN, json={"write": True}).json()
    assert written["folder"].startswith(str(tmp_path / "exports"))
    bad = api.post("/admin/export", headers=ADMIN, json={"since": "last week"})
    assert bad.status_code == 400 and "not an ISO date" in bad.json()["error"]["message"]
