"""Asks every combination (served model x RAG on/off) every question through the server's OpenAI API."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai
from tqdm import tqdm

from core.errors import RagtuneError
from evaluation.questions import Question


@dataclass(frozen=True)
class Combination:
    model: str  # as the user named it: "base" or an adapter name
    served_model: str  # the id the server knows it by
    rag: bool

    @property
    def label(self) -> str:
        return f"{self.model}+RAG" if self.rag else self.model


def served_models(client: openai.OpenAI) -> list:
    try:
        return client.models.list().data
    except openai.OpenAIError as err:
        raise RagtuneError(f"GET {client.base_url}models failed: {err}") from None


def decodings(client: openai.OpenAI, resolved: dict[str, str]) -> dict[str, dict | None]:
    """Per model name: the decoding defaults the server lists for it in GET /v1/models (its `decoding`),
    which is what the answers were generated with, since the evaluation sends no decoding values of its
    own; None where the server does not say."""
    listed = {m.id: (m.model_extra or {}).get("decoding") for m in served_models(client)}
    return {name: listed.get(served) for name, served in resolved.items()}


def resolve_models(client: openai.OpenAI, names: list[str]) -> dict[str, str]:
    """Map the user's model names to served ids; "base" is the served model that is no adapter."""
    served = served_models(client)
    ids = [m.id for m in served]
    bases = [m.id for m in served if not (m.model_extra or {}).get("parent")]
    resolved = {}
    for name in names:
        if name in ids:
            resolved[name] = name
        elif name == "base" and bases:
            resolved[name] = bases[0]
        else:
            raise RagtuneError(f"--models: '{name}' is not served by {client.base_url}; served: {', '.join(ids)}")
    return resolved


def combinations(resolved: dict[str, str], rag_modes: list[bool]) -> list[Combination]:
    """In the order the issue reads them: base, base+RAG, adapter, adapter+RAG."""
    return [Combination(name, served, rag) for name, served in resolved.items() for rag in sorted(set(rag_modes))]


def chat(
    client: openai.OpenAI, combo: Combination, messages: list[dict], max_tokens: int, rag: dict, what: str
):
    """No temperature, top_p or penalties: the answers are the served defaults' (what a client that sets
    none gets), and the report states them from GET /v1/models."""
    try:
        return client.chat.completions.create(
            model=combo.served_model, messages=messages, max_tokens=max_tokens, extra_body={"rag": rag},
        )
    except openai.OpenAIError as err:
        raise RagtuneError(f"{combo.label}, {what}: the server failed: {err}") from None


def ask(client: openai.OpenAI, combo: Combination, question: Question, *, top_k: int, max_tokens: int) -> dict:
    """One answer with its citations, latency and token counts, as a result row."""
    started = time.perf_counter()
    rag = {"enabled": combo.rag, "top_k": top_k}
    response = chat(client, combo, question.chat_messages(), max_tokens, rag, f"question {question.id}")
    latency = time.perf_counter() - started
    usage = response.usage
    return {
        "question_id": question.id,
        "combination": combo.label,
        "model": combo.model,
        "rag": combo.rag,
        "question": question.question,
        "reference_answer": question.reference_answer,
        "gold_sources": question.gold_sources,
        "answerable": question.answerable,
        "key_facts": question.key_facts,
        "language": question.language,
        **({"messages": question.messages, "kind": question.kind} if question.messages else {}),
        "answer": response.choices[0].message.content or "",
        "finish_reason": response.choices[0].finish_reason,
        "citations": (response.model_extra or {}).get("citations") or [],
        "latency_s": latency,
        "completion_tokens": usage.completion_tokens if usage else None,
    }


def warm_up(client: openai.OpenAI, combo: Combination) -> None:
    """One untimed one-token request, so the first timed answer does not pay for loading an adapter. Not a
    greeting: the server answers those without the model."""
    chat(client, combo, [{"role": "user", "content": "Say OK."}], 1, {"enabled": False}, "warm-up request")


def run(
    client: openai.OpenAI, combos: list[Combination], questions: list[Question], *, top_k: int, max_tokens: int,
    concurrency: int = 1, desc: str = "evaluating",
) -> list[dict]:
    """Rows in combination then question order. Up to `concurrency` questions of one combination are in
    flight at once (the engine batches them); latency is then what a client of a busy server sees."""
    rows = []
    with tqdm(total=len(combos) * len(questions), desc=desc, unit="answer") as bar, \
            ThreadPoolExecutor(max_workers=concurrency) as pool:
        for combo in combos:
            bar.set_postfix_str(combo.label)
            warm_up(client, combo)
            futures = [pool.submit(ask, client, combo, q, top_k=top_k, max_tokens=max_tokens) for q in questions]
            for future in futures:
                rows.append(future.result())
                bar.update()
    return rows
