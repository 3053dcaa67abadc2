"""The feedback loop's routes: `POST /v1/feedback` (client keys); experiments and export under `/admin`
(admin keys). They call the FeedbackService in `app.state.feedback` (feedback.service); its errors are
core.errors types that the server turns into OpenAI-shaped error bodies."""

import asyncio
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from feedback.experiments import Experiment, ExperimentSpec
from feedback.export import ExportFilter, parse_time
from feedback.ratings import MAX_ANSWER_CHARS, MAX_REASON_CHARS
from feedback.service import FeedbackService
from server.auth import admin_key, client_key

router = APIRouter()
# An ISO date (a bound on whole days) or date-time; parse_time reads it
IsoTime = Annotated[str, Field(json_schema_extra={"anyOf": [{"format": "date"}, {"format": "date-time"}]})]


class FeedbackRequest(BaseModel):
    # A preference (compare page) rates the preferred response "up"
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"preferred_over": {"type": "string"}}, "required": ["preferred_over"]},
            "then": {"properties": {"rating": {"const": "up"}}},
        },
    )

    response_id: str = Field(max_length=200, pattern=r"\S")  # the chat completion's `id`
    rating: Literal["up", "down"]
    reason: str | None = Field(None, max_length=MAX_REASON_CHARS)
    corrected_answer: str | None = Field(None, max_length=MAX_ANSWER_CHARS)  # the answer it should have given
    preferred_over: str | None = None  # compare page: the other response's `id`, not this one


class WeightsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weights: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)  # variant name -> new weight


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: IsoTime | None = None
    until: IsoTime | None = None
    rating: Literal["up", "down"] | None = None
    model: str | None = None
    collection: str | None = None
    write: bool = False  # True: files under RAGTUNE_HOME/exports/<time>; False: their content in the reply


def _service(request: Request) -> FeedbackService:
    return request.app.state.feedback


def _experiment(experiment: Experiment) -> dict:
    return {"object": "experiment", **experiment.model_dump(), "running": experiment.running}


@router.post("/v1/feedback", dependencies=[Depends(client_key)])
def post_feedback(body: FeedbackRequest, request: Request) -> dict:
    """Thumbs up/down on a response, with an optional reason, correction or preferred-over id; a client key
    rates only the responses it was given."""
    key = getattr(request.state, "client_key", None)
    feedback = _service(request).add_feedback(**body.model_dump(), client=key.name if key else None)
    return {"object": "feedback", **asdict(feedback)}


@router.get("/admin/experiments", dependencies=[Depends(admin_key)])
def list_experiments(request: Request) -> dict:
    return {"object": "list", "data": [_experiment(e) for e in _service(request).experiments.all()]}


@router.post("/admin/experiments", status_code=201, dependencies=[Depends(admin_key)])
async def start_experiment(body: ExperimentSpec, request: Request) -> dict:
    """Starts an experiment at once on this and (within feedback.experiments_refresh_s) every replica. Its
    variants may name any adapter served, also one loaded through another replica."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None:
        await runtime.follow_shared()
    served = set(runtime.adapters) if runtime is not None else None
    started = await asyncio.to_thread(_service(request).experiments.start, body, known_adapters=served)
    return _experiment(started)


@router.put("/admin/experiments/{name}", dependencies=[Depends(admin_key)])
def change_weights(name: str, body: WeightsRequest, request: Request) -> dict:
    return _experiment(_service(request).experiments.set_weights(name, body.weights))


@router.delete("/admin/experiments/{name}", dependencies=[Depends(admin_key)])
def stop_experiment(name: str, request: Request) -> dict:
    """Stops the experiment; its rows and report stay."""
    return _experiment(_service(request).experiments.stop(name))


@router.post("/admin/export", dependencies=[Depends(admin_key)])
def export_training_data(body: ExportRequest, request: Request) -> dict:
    """SFT and DPO files from the feedback: written under the home folder, or returned as their content."""
    where = ExportFilter(
        since=parse_time(body.since, "since"),
        until=parse_time(body.until, "until", end=True),
        rating=body.rating,
        model=body.model,
        collection=body.collection,
    )
    service = _service(request)
    if body.write:
        result = service.export(where=where)
        return {"object": "export", **result.summary(), "folder": str(result.folder)}
    with tempfile.TemporaryDirectory() as folder:
        result = service.export(Path(folder), where)
        files = {name: path.read_text(encoding="utf-8") for name, path in result.files.items()}
    return {"object": "export", **result.summary(), "content": files}
