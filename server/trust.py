"""The chat service's trust layer: what one request's rails decided, the checks before generation (input
rules, a request for a person, the relevance gate) and the output rules on the answer's stream."""

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from core.language import detect_language
from rails import Rails
from rails.groundedness import AnswerCheck, AnswerSupport
from rails.grounding import GroundingGate
from rails.rules import Decision, RuleSet, count_hits
from rails.rules import decisions as rule_decisions
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
    """The conversation after the input rules (masked where a rule masks), its last user turn, and the answer
    to give without generating, if any."""

    conversation: list[dict]
    question: str
    answer: str | None
    decisions: Decisions


# The turns the input rules read: every user turn and the client's system message all reach the prompt, so a
# rule that only read the last user turn could be passed by writing into an earlier one.
SCREENED_ROLES = ("user", "system")


def screen_conversation(rails: Rails, conversation: list[dict], metrics: Metrics) -> Screened:
    """Input rules on every user turn and system message (a block anywhere answers with the preset reply, in
    the last user turn's language), then a request for a person in the last user turn."""
    last = max((i for i, m in enumerate(conversation) if m["role"] == "user"), default=None)
    question = conversation[last]["content"] if last is not None else ""
    language = detect_language(question)
    screened, counts, blocked = [], Counter(), None
    for message in conversation:
        if message["role"] not in SCREENED_ROLES:
            screened.append(message)
            continue
        checked = rails.input_rules.scan(message["content"], language)
        counts.update({(d.rule, d.action, d.kind): d.count for d in checked.decisions})
        blocked = blocked or (checked.text if checked.blocked else None)
        screened.append({**message, "content": message["content"] if checked.blocked else checked.text})
    decisions = Decisions(language=language, input_rails=[d.as_dict() for d in rule_decisions(counts)])
    count_rails(metrics, "input", decisions.input_rails)
    masked = screened[last]["content"] if last is not None else ""
    if blocked is not None:
        decisions.handoff = handoff(metrics, "blocked_input", "an input rule blocked the message", blocked)
        return Screened(conversation=screened, question=question, answer=blocked, decisions=decisions)
    asked = rails.handoff(question)
    if asked:
        message = rails.texts.get("handoff", language)
        decisions.handoff = handoff(metrics, "user_asked", asked, message)
        return Screened(conversation=screened, question=masked, answer=message, decisions=decisions)
    return Screened(conversation=screened, question=masked, answer=None, decisions=decisions)


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


class ToolCallScreen:
    """The output rules on a forced tool call's JSON (a StreamFilter's interface, for `guarded`): it is sent
    whole at the end anyway, so it is held until complete, then every string and number in the calls'
    arguments is scanned. Matches are masked in place, a block rule's too: the call must stay valid JSON for
    the client's code, and the listed words or personal data never reach it."""

    blocked = False
    reply = ""

    def __init__(self, rules: RuleSet):
        self.rules, self._text, self._counts = rules, "", Counter()

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return rule_decisions(self._counts)

    def feed(self, delta: str) -> str:
        self._text += delta
        return ""

    def finish(self) -> str:
        try:
            calls = json.loads(self._text)
        except json.JSONDecodeError:  # cut short: shaping reports it
            return self._text
        if not isinstance(calls, list):
            return self._text
        screened = [
            {**call, "arguments": self._screen(call["arguments"])}
            if isinstance(call, dict) and "arguments" in call
            else call
            for call in calls
        ]
        return json.dumps(screened, ensure_ascii=False)

    def _screen(self, value):
        if isinstance(value, dict):
            return {key: self._screen(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._screen(item) for item in value]
        if isinstance(value, str):
            return self._masked(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            written = json.dumps(value)
            masked = self._masked(written)  # a phone number written as a number: masked as text
            return value if masked == written else masked
        return value

    def _masked(self, text: str) -> str:
        hits = self.rules.find(text).hits
        count_hits(hits, self._counts)
        as_masks = [
            replace(h, rule=replace(h.rule, action="mask")) if h.rule.action == "block" else h for h in hits
        ]
        return self.rules.masked(text, as_masks)


async def guarded(
    deltas: AsyncIterator[Delta], screen: StreamFilter | ToolCallScreen
) -> AsyncIterator[Delta]:
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


def output_decisions(
    filters: list[StreamFilter | ToolCallScreen], decisions: Decisions, metrics: Metrics
) -> None:
    """After generation: what the output rules did, and a hand-off when they blocked an answer."""
    decisions.output_rails = [d.as_dict() for screen in filters for d in screen.decisions]
    count_rails(metrics, "output", decisions.output_rails)
    blocked = next((screen for screen in filters if screen.blocked), None)
    if blocked is not None and decisions.handoff is None:
        decisions.handoff = handoff(
            metrics, "blocked_output", "an output rule blocked the answer", blocked.reply
        )
