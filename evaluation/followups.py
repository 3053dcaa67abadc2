"""Follow-up questions measured without the chat model: for each conversation's last user turn, does retrieval
find the gold document in its first k hits (recall@k), and does the relevance gate let the turn through?

Three ways of asking, side by side:
- resolved: the conversation, searched as serving searches it (`retrieval.query.resolve_query`) and judged as
  serving judges it (`GroundingGate.decide_query`);
- standalone: the follow-up written out in full (the file's standalone_question), as a conversation of its own;
- alone: the follow-up as typed, without the conversation before it.
A resolver does its job when "resolved" comes close to "standalone"; "alone" shows what it starts from.
False refusals: answerable turns the gate refuses; refused unanswerable: unanswerable turns it refuses."""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from core.settings import RetrievalSettings
from evaluation.conversations import Conversation
from evaluation.metrics import recall_at_k
from rails.grounding import GroundingGate
from retrieval.query import resolve_query
from retrieval.types import Hit

WAYS = ("resolved", "standalone", "alone")


@dataclass(frozen=True)
class Asked:
    """One way of asking a conversation's follow-up: what was searched, found and decided."""

    query: str  # the search text
    sources: list[str]  # of the first k hits
    recall: float | None  # None: no gold sources
    answered: bool  # the gate let it through
    score: float  # the gate's signal


@dataclass(frozen=True)
class Outcome:
    conversation: Conversation
    asked: dict[str, Asked]  # per WAYS


@dataclass(frozen=True)
class Summary:
    """One group of conversations (all, a language, a language and kind)."""

    group: str
    conversations: int
    answerable: int
    recall: dict[str, float | None]  # mean over answerable turns with gold sources
    false_refusals: dict[str, float | None]  # share of answerable turns refused
    unanswerable_refused: dict[str, float | None]  # share of unanswerable turns refused


def ask(
    conversation: Conversation,
    search: Callable[[str], list[Hit]],
    gate: GroundingGate,
    settings: RetrievalSettings,
    k: int = 5,
    small_talk: Callable[[str], bool] | None = None,
) -> Outcome:
    ways = {  # each a conversation, so all three go through serving's own resolver and gate
        "resolved": conversation.messages,
        "standalone": [{"role": "user", "content": conversation.standalone_question}],
        "alone": conversation.messages[-1:],
    }
    asked = {}
    for way, messages in ways.items():
        query = resolve_query(messages, settings, small_talk=small_talk)
        hits = search(query.text)
        sources = [h.source for h in hits[:k]]
        decision = gate.decide_query(query, hits[: settings.top_k])  # what serving retrieves by default
        recall = recall_at_k(sources, conversation.gold_sources, k) if conversation.answerable else None
        asked[way] = Asked(
            query=query.text,
            sources=sources,
            recall=recall,
            answered=decision.answered,
            score=round(decision.score, 3),
        )
    return Outcome(conversation, asked)


def summarise(outcomes: Sequence[Outcome]) -> list[Summary]:
    """All conversations, then each language, then each language and kind."""
    groups: dict[str, list[Outcome]] = {"all": list(outcomes)}
    for language in sorted({o.conversation.language for o in outcomes}):
        groups[language] = [o for o in outcomes if o.conversation.language == language]
    for language, kind in sorted({(o.conversation.language, o.conversation.kind) for o in outcomes}):
        groups[f"{language}/{kind}"] = [
            o for o in outcomes if (o.conversation.language, o.conversation.kind) == (language, kind)
        ]
    return [_summary(name, members) for name, members in groups.items()]


def _summary(group: str, outcomes: list[Outcome]) -> Summary:
    answerable = [o for o in outcomes if o.conversation.answerable]
    unanswerable = [o for o in outcomes if not o.conversation.answerable]
    return Summary(
        group=group,
        conversations=len(outcomes),
        answerable=len(answerable),
        recall={
            w: _mean([o.asked[w].recall for o in answerable if o.asked[w].recall is not None]) for w in WAYS
        },
        false_refusals={w: _mean([not o.asked[w].answered for o in answerable]) for w in WAYS},
        unanswerable_refused={w: _mean([not o.asked[w].answered for o in unanswerable]) for w in WAYS},
    )


def as_json(outcomes: Sequence[Outcome], summaries: Sequence[Summary], k: int) -> dict:
    return {
        "k": k,
        "summary": [asdict(s) for s in summaries],
        "conversations": [
            {
                "id": o.conversation.id,
                "language": o.conversation.language,
                "kind": o.conversation.kind,
                "answerable": o.conversation.answerable,
                "gold_sources": o.conversation.gold_sources,
                **{way: asdict(a) for way, a in o.asked.items()},
            }
            for o in outcomes
        ],
    }


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def tables(outcomes: Sequence[Outcome], summaries: Sequence[Summary], k: int) -> list:
    """Rich tables: each group's figures per way of asking, then the conversations the resolved query gets
    wrong (gold source missed, or the gate's decision wrong)."""
    from rich.table import Table

    groups = Table(title=f"Follow-ups: recall@{k} of the gold sources and the relevance gate's refusals")
    for column in (
        "group",
        "n",
        "answerable",
        "asked",
        f"recall@{k}",
        "false refusals",
        "unanswerable refused",
    ):
        groups.add_column(
            column,
            justify="left" if column in ("group", "asked") else "right",
            min_width=len("zh/after_fallback") if column == "group" else None,
        )
    for s in summaries:
        for way in WAYS:
            first = way == WAYS[0]
            groups.add_row(
                s.group if first else "",
                str(s.conversations) if first else "",
                str(s.answerable) if first else "",
                way,
                _figure(s.recall[way]),
                _figure(s.false_refusals[way]),
                _figure(s.unanswerable_refused[way]),
                end_section=way == WAYS[-1],
            )
    misses = Table(title="Conversations the resolved query gets wrong")
    for column in ("id", "kind", "resolved query", f"top-{k} sources", "gate"):
        misses.add_column(column)
    for o in outcomes:
        resolved = o.asked["resolved"]
        if resolved.answered != o.conversation.answerable or (
            resolved.recall is not None and resolved.recall < 1
        ):
            gate = ("answered" if resolved.answered else "refused") + f" {resolved.score:.2f}"
            sources = ", ".join(dict.fromkeys(resolved.sources)) or "none"
            misses.add_row(o.conversation.id, o.conversation.kind, resolved.query, sources, gate)
    return [groups, misses]


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
