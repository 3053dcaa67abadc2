"""What a conversation searches the knowledge base with; serving and retrieval-aware training both use it.

A customer's follow-up rarely names its topic again: "How do I fix it?" after "My AeroBuds Pro show error
E-117", "And for Gold members?", "国际的呢？". The query is the last user turn, completed from the
conversation when it is a follow-up:

- a follow-up without a topic of its own (a pronoun, an ellipsis, or too few words to search with) gets the
  previous user question before it, and the product names and codes of the latest turn that has any (the
  assistant's too: "Which model?" may be answered by the assistant naming it);
- a follow-up that names another product ("and the PulseBand 2?") keeps what was asked before and drops the
  stale product: a topic switch.

A question that names its topic and says enough is searched as it is."""

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from core.language import DECLINE, is_cjk
from core.settings import RetrievalSettings
from retrieval.evidence import content_terms, product_names
from retrieval.text import tokenize

# Error and model codes ("E-117", "NW-4471"): they identify the topic as a product name does.
_CODE = re.compile(r"\b[A-Za-z]{1,3}-?\d{2,6}\b")
_ANAPHORA_EN = frozenset(
    [
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "one",
        "ones",
        "he",
        "she",
        "him",
        "her",
    ]
)
_ELLIPSIS_EN = re.compile(
    r"^\s*(and|also|but|so|then|or|what about|how about|what if|same for|is that|does that|will that)\b",
    re.IGNORECASE,
)
_ANAPHORA_ZH = (
    "它",
    "这个",
    "那个",
    "这款",
    "那款",
    "这些",
    "那些",
    "该产品",
    "这种",
    "那种",
    "上面",
    "刚才",
)
_ELLIPSIS_ZH = re.compile(r"^\s*(那|还有|另外|如果|要是|而且|那么)|呢\s*[？?。.!！]*\s*$")
# Fewer content terms than this, and no topic of its own: too little to search with alone.
_MIN_OWN_TERMS = 2


@dataclass(frozen=True)
class ResolvedQuery:
    text: str  # what retrieval searches with
    question: str  # the last user turn as written
    carried: str = ""  # what came from earlier user turns ("" when the question stands alone)
    context: str = ""  # the assistant's words it refers to ("Where do I do that?"): searched with
    gated: str = ""  # what the relevance gate judges (see resolve_query)

    @property
    def is_follow_up(self) -> bool:
        return bool(self.carried)


def _names(text: str) -> list[str]:
    """Product names and codes in a text."""
    return [m.group() for m in _CODE.finditer(text)] + product_names(text)


def _refers_back(question: str) -> bool:
    """A pronoun or an ellipsis: the question leans on what was said before."""
    words = set(re.findall(r"[a-z']+", question.lower()))
    return bool(
        words & _ANAPHORA_EN
        or _ELLIPSIS_EN.search(question)
        or _ELLIPSIS_ZH.search(question)
        or any(marker in question for marker in _ANAPHORA_ZH)
    )


def _without(text: str, names: list[str]) -> str:
    """The text with the names taken out (case-insensitive, as words)."""
    for name in sorted(names, key=len, reverse=True):
        words = r"\s+".join(re.escape(part) for part in name.split())
        text = re.sub(rf"(?i)(?<![\w-]){words}(?![\w-])", " ", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _words(text: str, exclude: set[str]) -> list[str]:
    """The content terms that say something on their own: Chinese words of two characters or more (a single
    character, 天 or 退, is too vague to search with alone), other words as they are."""
    return [t for t in content_terms(text) if t not in exclude and not (len(t) == 1 and is_cjk(t))]


def _name_tokens(names: list[str]) -> set[str]:
    return {token for name in names for token in tokenize(name)}


def resolve_query(
    conversation: list[dict],
    settings: RetrievalSettings,
    declines: Collection[str] = DECLINE.values(),
    small_talk: Callable[[str], bool] | None = None,
) -> ResolvedQuery:
    """The last user turn, completed from up to `query_history_turns` earlier user turns when it is a
    follow-up (see the module's docstring); cut to max_query_chars from the end. Earlier turns that were
    small talk (`small_talk`: the rails' dialogue detector) or that the assistant declined (its answer begins
    with one of `declines`: the fallback) carry no topic."""
    turns = [m for m in conversation if m["role"] in ("user", "assistant") and m.get("content")]
    last = max((i for i, m in enumerate(turns) if m["role"] == "user"), default=None)
    if last is None:
        return _alone("")
    question, earlier = turns[last]["content"], turns[:last]
    asked = _asked(earlier, tuple(declines), small_talk or (lambda text: False))
    if not asked or settings.query_history_turns == 0:
        return _cut(_alone(question), settings)
    own_names = _names(question)
    own_terms = _words(question, exclude=_name_tokens(own_names))
    refers_back = _refers_back(question)
    if own_names and not (refers_back and not own_terms):
        return _cut(_alone(question), settings)  # names its own topic
    if not own_names and not refers_back and len(own_terms) >= _MIN_OWN_TERMS:
        return _cut(_alone(question), settings)  # a new question, said in full
    previous = [question for question, _ in asked[-settings.query_history_turns :]]
    context = ""
    if own_names:  # a topic switch: what was asked before, about the product named now
        carried = [_without(text, _names(text)) for text in previous]
    else:
        carried = list(previous)
        context = _first_sentence(asked[-1][1])
        if not any(_names(text) for text in carried):
            latest = next((_names(m["content"]) for m in reversed(earlier) if _names(m["content"])), [])
            carried.append(" ".join(dict.fromkeys(latest)))
    carried_text = "\n".join(text for text in carried if text)
    text = "\n".join(part for part in (carried_text, context, question) if part)
    # The assistant's words come from the sources and would vouch for themselves: the gate reads them only
    # when the question points at what they say ("Where do I do that?"), not at a product they name.
    vouching = context if refers_back and not _names(context) else ""
    gated = "\n".join(part for part in (carried_text, vouching, question) if part)
    return _cut(
        ResolvedQuery(text=text, question=question, carried=carried_text, context=context, gated=gated),
        settings,
    )


def _asked(
    earlier: list[dict], declines: tuple[str, ...], small_talk: Callable[[str], bool]
) -> list[tuple[str, str]]:
    """(question, the assistant's reply) for the earlier user turns that asked something it answered."""
    asked = []
    for index, message in enumerate(earlier):
        if (
            message["role"] != "user"
            or not content_terms(message["content"])
            or small_talk(message["content"])
        ):
            continue
        reply = next((m["content"] for m in earlier[index + 1 :] if m["role"] == "assistant"), "")
        if not reply.strip().startswith(declines):
            asked.append((message["content"], reply))
    return asked


_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*")


def _first_sentence(text: str, max_chars: int = 200) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0][:max_chars]


def _alone(question: str) -> ResolvedQuery:
    return ResolvedQuery(text=question, question=question, gated=question)


def _cut(resolved: ResolvedQuery, settings: RetrievalSettings) -> ResolvedQuery:
    if len(resolved.text) <= settings.max_query_chars:
        return resolved
    return replace(resolved, text=resolved.text[-settings.max_query_chars :])


def retrieval_query(conversation: list[dict], settings: RetrievalSettings) -> str:
    """The text the knowledge base is searched with for this conversation (resolve_query's)."""
    return resolve_query(conversation, settings).text
