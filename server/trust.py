"""The chat service's trust layer: what one request's rails decided, the checks before generation (input
rules, a request for a person, the relevance gate) and the output rules on the answer's stream."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from rails import Rails
from rails.groundedness import AnswerCheck, AnswerSupport
from rails.grounding import GroundingGate
from rails.stream import StreamFilter
from retrieval.query import ResolvedQuery
from retrieval.types import Hit
from server.engines import Delta
from server.metrics import Metrics
from server.protocol import Handoff


@dataclass
class Decisions:
    """Everything the rails decided for one request; shown in the response, /metrics and the log."""

    language: str
    input_rails: list[dict] = field(default_factory=list)
    output_rails: list[dict] = field(default_factory=list)
    grounding: dict | None = None  # RAG requests only
    handoff: Handoff | None = None
    dialogue: dict | None = None  # a conversational turn answered with its preset reply (rails/dialogue.py)
    curated: dict | None = None  # answered by a curated answer: id, question, score (knowledge/answers.py)

    def rails(self) -> dict:
        return {"input": self.input_rails, "output": self.output_rails}

    def as_dict(self) -> dict:
        handoff = self.handoff.model_dump() if self.handoff else None
        return {
            "rails": self.rails(),
            "grounding": self.grounding,
            "handoff": handoff,
            "dialogue": self.dialogue,
            "curated": self.curated,
        }


@dataclass
class Screened:
    """The question after the input rules, and the answer to give without generating, if any."""

    question: str
    answer: str | None
    decisions: Decisions


def screen_question(rails: Rails, question: str, metrics: Metrics) -> Screened:
    """Input rules first (a block answers with the preset reply), then a request for a person."""
    checked = rails.scan_input(question)
    decisions = Decisions(language=checked.language, input_rails=[d.as_dict() for d in checked.decisions])
    count_rails(metrics, "input", decisions.input_rails)
    if checked.blocked:
        decisions.handoff = handoff(
            metrics, "blocked_input", "an input rule blocked the message", checked.text
        )
        return Screened(question, checked.text, decisions)
    asked = rails.handoff(question)
    if asked:
        message = rails.texts.get("handoff", checked.language)
        decisions.handoff = handoff(metrics, "user_asked", asked, message)
        return Screened(checked.text, message, decisions)
    return Screened(checked.text, None, decisions)


def gate(
    rails: Rails,
    grounding: GroundingGate,
    query: ResolvedQuery,
    hits: list[Hit],
    decisions: Decisions,
    metrics: Metrics,
) -> str | None:
    """The fallback answer, in the question's language, when the knowledge base holds nothing that answers
    the question (the calibrated gate of rails/grounding.py), else None. A follow-up is judged as completed
    from the conversation, or as written when that covers more: the earlier turn may add terms no source
    holds."""
    decision = grounding.decide_query(query, hits)
    decisions.grounding = {
        "fallback": not decision.answered,
        "signal": decision.signal,
        "score": round(decision.score, 3),
        "threshold": decision.threshold,
        "reason": decision.reason,
        "query": query.text,  # what was searched: a follow-up completed from the conversation
    }
    metrics.grounding.labels("answered" if decision.answered else "fallback").inc()
    if decision.answered:
        return None
    message = rails.fallback(query.question)
    decisions.handoff = handoff(metrics, "fallback", decision.reason, message)
    return message


async def check_answer(
    checker: AnswerCheck, mode: str, answer: str, sources: list[str], decisions: Decisions, metrics: Metrics
) -> AnswerSupport:
    """After generation: is the answer supported by the sources it was given? Recorded in `grounding`;
    what it changes (replace by the fallback, append a notice) is the caller's (rails.groundedness)."""
    support = await asyncio.to_thread(checker.check, answer, sources)
    decisions.grounding = {
        **(decisions.grounding or {}),
        "answer_supported": support.supported,
        "answer_support": None if support.share is None else round(support.share, 3),
        "answer_check": mode,
    }
    metrics.answer_checks.labels("supported" if support.supported else "unsupported").inc()
    return support


def handoff(metrics: Metrics, reason: str, detail: str, message: str) -> Handoff:
    metrics.handoffs.labels(reason).inc()
    return Handoff(reason=reason, detail=detail, message=message)


def count_rails(metrics: Metrics, side: str, decisions: list[dict]) -> None:
    for decision in decisions:
        metrics.rail_actions.labels(side, decision["rule"], decision["action"]).inc(decision["count"])


async def guarded(deltas: AsyncIterator[Delta], screen: StreamFilter) -> AsyncIterator[Delta]:
    """The deltas with the output rules applied: a listed word split across deltas never comes out; a block
    ends the generation (closing the engine's stream) and its preset reply is the last text."""
    async with aclosing(deltas) as stream:
        async for delta in stream:
            text = screen.feed(delta.text)
            if screen.blocked:
                yield replace(delta, text=screen.reply, finish_reason="stop")
                return
            if delta.finish_reason is not None:
                text += screen.finish()
            yield replace(delta, text=text)


def output_decisions(filters: list[StreamFilter], decisions: Decisions, metrics: Metrics) -> None:
    """After generation: what the output rules did, and a hand-off when they blocked an answer."""
    decisions.output_rails = [d.as_dict() for screen in filters for d in screen.decisions]
    count_rails(metrics, "output", decisions.output_rails)
    blocked = next((screen for screen in filters if screen.blocked), None)
    if blocked is not None and decisions.handoff is None:
        decisions.handoff = handoff(
            metrics, "blocked_output", "an output rule blocked the answer", blocked.reply
        )
