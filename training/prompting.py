"""The one prompt builder shared by training and serving, so a tuned adapter sees at serving time
exactly the prompt shape it was trained on. Its version is recorded in every adapter's metadata."""

from dataclasses import dataclass

from retrieval.errors import RagtuneError

PROMPT_FORMAT = "ragtune-rag-v1"

SOURCES_INSTRUCTION = (
    "Answer from the numbered sources below and cite them in square brackets, like [1]. "
    "If the sources do not contain the answer, say so politely instead of guessing."
)
NO_SOURCES_NOTE = (
    "No relevant source was found in the knowledge base for this question. "
    "Tell the user you do not have that information instead of guessing."
)


@dataclass
class Source:
    text: str
    title: str = ""
    source: str = ""


def format_sources(sources: list[Source]) -> str:
    blocks = []
    for number, src in enumerate(sources, start=1):
        heading = " — ".join(part for part in (src.title, src.source) if part)
        blocks.append(f"[{number}] {heading}\n{src.text.strip()}" if heading else f"[{number}] {src.text.strip()}")
    return "\n\n".join(blocks)


def system_turn(system_prompt: str, sources: list[Source] | None) -> str:
    """sources=None: RAG off (plain system prompt); []: RAG on but nothing relevant found."""
    if sources is None:
        return system_prompt
    if not sources:
        return f"{system_prompt}\n\n{NO_SOURCES_NOTE}"
    return f"{system_prompt}\n\n{SOURCES_INSTRUCTION}\n\n{format_sources(sources)}"


def render_prompt(messages: list[dict], tokenizer) -> str:
    """The model's own chat template, ending where the assistant's answer starts."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def count_prompt_tokens(messages: list[dict], tokenizer) -> int:
    return len(tokenizer(render_prompt(messages, tokenizer), add_special_tokens=False)["input_ids"])


def build_messages(
    conversation: list[dict],
    sources: list[Source] | None,
    *,
    tokenizer,
    system_prompt: str,
    max_prompt_tokens: int,
) -> list[dict]:
    """Put the system prompt and the numbered sources in one system turn before the conversation.

    Within max_prompt_tokens (counted with the model's tokenizer and template) the lowest-ranked sources
    are dropped first, then history oldest first; the last user turn is always kept.
    """
    own_system = [m["content"] for m in conversation if m["role"] == "system"]
    turns = [m for m in conversation if m["role"] != "system"]
    if not turns:
        raise RagtuneError("messages: need at least one user or assistant message")
    base_prompt = "\n\n".join([system_prompt, *own_system]) if own_system else system_prompt
    kept_sources = list(sources) if sources is not None else None

    while True:
        messages = [{"role": "system", "content": system_turn(base_prompt, kept_sources)}, *turns]
        if count_prompt_tokens(messages, tokenizer) <= max_prompt_tokens:
            return messages
        if kept_sources and len(kept_sources) > 1:
            kept_sources.pop()
        elif len(turns) > 1:
            turns = turns[1:]
        elif kept_sources:
            kept_sources.pop()  # the last source would leave no room for the question
        else:
            raise RagtuneError(
                f"messages: the last message alone is longer than the model's prompt budget "
                f"of {max_prompt_tokens} tokens"
            )
