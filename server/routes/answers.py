"""Admin API of curated answers (admin keys; each change audited): list, add, edit, remove, a staff
correction from the feedback log made a curated answer, and the review queue of questions that went wrong.
A change is on disk when the route answers, and every replica's next request sees it (the chat service checks
the store's file before matching)."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from core.errors import UnavailableError
from knowledge.answers import (
    MAX_ANSWER_CHARS,
    MAX_PARAPHRASES,
    MAX_QUESTION_CHARS,
    CuratedAnswer,
    cited,
    from_correction,
    listed,
)
from server.auth import admin_key, key_id

router = APIRouter(prefix="/admin", dependencies=[Depends(admin_key)])
AnswerId = Annotated[str, PathParam(max_length=64, pattern=r"^[\w-]+$")]


# As knowledge.answers.checked takes them: text that is not all blank, within its length
Question = Annotated[str, Field(max_length=MAX_QUESTION_CHARS, pattern=r"\S")]
AnswerText = Annotated[str, Field(max_length=MAX_ANSWER_CHARS, pattern=r"\S")]
Paraphrase = Annotated[str, Field(max_length=MAX_QUESTION_CHARS)]  # a blank one is dropped


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Question
    answer: AnswerText
    paraphrases: list[Paraphrase] = Field([], max_length=MAX_PARAPHRASES)
    language: str | None = Field(None, pattern="^(en|zh)$")  # detected from the question when not given
    collection: str | None = None  # None: any collection
    sources: list[str] = Field([], max_length=50)  # knowledge-base document ids or sources it cites
    author: str | None = Field(None, max_length=200)


class AnswerEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # absent: unchanged; these three are never null (null would set a curated answer without one)
    question: Question = None
    answer: AnswerText = None
    paraphrases: list[Paraphrase] = Field(None, max_length=MAX_PARAPHRASES)
    language: str | None = Field(None, pattern="^(en|zh)$")
    collection: str | None = None
    sources: list[str] | None = Field(None, max_length=50)
    author: str | None = Field(None, max_length=200)


class FromFeedback(BaseModel):
    model_config = ConfigDict(extra="forbid")
    response_id: str = Field(max_length=200)
    author: str | None = Field(None, max_length=200)


def _author(request: Request, given: str | None) -> str:
    """Who wrote it: as given, else the admin key's id (never the key)."""
    header = request.headers.get("authorization", "")
    return given or key_id(header[7:].strip() if header.lower().startswith("bearer ") else None)


def _chat(request: Request):
    return request.app.state.chat


async def _documents(request: Request) -> list[dict]:
    return await asyncio.to_thread(_chat(request).rt.kb.documents)


@router.get("/answers")
async def list_answers(request: Request, stale: bool = False) -> dict:
    """Every curated answer with its hits, last hit and staleness; `stale=true`: the stale ones only."""
    documents = await _documents(request)
    return {"data": await asyncio.to_thread(listed, _chat(request).answers, documents, stale)}


@router.post("/answers")
async def add_answer(request: Request, body: AnswerIn) -> dict:
    sources = cited(body.sources, await _documents(request)) if body.sources else []
    fields = body.model_dump(exclude={"sources", "author", "language"})
    answer = CuratedAnswer(
        **fields,
        language=body.language or "",
        sources=sources,
        author=_author(request, body.author),
        origin="api",
    )
    stored = await asyncio.to_thread(_chat(request).answers.add, [answer])
    return {"answer": stored[0].__dict__}


@router.put("/answers/{answer_id}")
async def edit_answer(request: Request, answer_id: AnswerId, body: AnswerEdit) -> dict:
    changes = body.model_dump(exclude_unset=True)
    if "sources" in changes:
        changes["sources"] = cited(changes["sources"] or [], await _documents(request))
    changes["author"] = _author(request, changes.get("author"))
    edited = await asyncio.to_thread(_chat(request).answers.update, answer_id, changes)
    return {"answer": edited.__dict__}


@router.delete("/answers/{answer_id}")
async def delete_answer(request: Request, answer_id: AnswerId) -> dict:
    await asyncio.to_thread(_chat(request).answers.remove, answer_id)
    return {"deleted": answer_id}


@router.post("/answers/from-feedback")
async def from_feedback(request: Request, body: FromFeedback) -> dict:
    """The staff correction on a logged response, as a curated answer for the question asked (the training
    export still takes the correction too)."""
    feedback = request.app.state.feedback
    if feedback is None or not feedback.enabled:
        raise UnavailableError("from-feedback: the feedback log is off (settings feedback.enabled)")
    chat, corrected = await asyncio.to_thread(feedback.correction, body.response_id)
    cited_ids = [c["document_id"] for c in chat.sources if c.get("document_id")]
    answer = from_correction(
        chat.messages,
        corrected,
        cited_ids,
        await _documents(request),
        _chat(request).rt.settings.retrieval,
        body.response_id,
        _author(request, body.author),
    )
    stored = await asyncio.to_thread(_chat(request).answers.add, [answer])
    return {"answer": stored[0].__dict__}


@router.get("/review")
async def review(
    request: Request, days: float = Query(30, gt=0, le=3650), limit: int = Query(5000, ge=1, le=100_000)
):
    """The review queue (feedback/review.py): flagged questions of the last `days`, grouped."""
    feedback, chat = request.app.state.feedback, _chat(request)
    if feedback is None or not feedback.enabled:
        raise UnavailableError("review: the feedback log is off (settings feedback.enabled)")
    settings = chat.rt.settings
    rows = await asyncio.to_thread(
        feedback.review, chat.rt.kb.embedder, settings.answers, settings.retrieval, days, limit
    )
    return {"data": [row.__dict__ for row in rows]}
