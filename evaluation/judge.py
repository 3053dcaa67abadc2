"""Optional LLM judge through any OpenAI-compatible endpoint: correctness, helpfulness and style, 1-5 each."""

import json
import re

import openai

from core.errors import RagtuneError
from core.prompt import citation_marker

CRITERIA = ("correctness", "helpfulness", "style")
RUBRIC = """You grade a customer-service assistant's answer. Score each criterion from 1 (bad) to 5 (excellent):
- correctness: agrees with the reference answer and invents nothing; for a question the reference says cannot be
  answered, a polite refusal is correct;
- helpfulness: answers what was asked, completely and directly;
- style: polite, clear, concise, in the language of the question.
Reply with only a JSON object like {"correctness": 4, "helpfulness": 3, "style": 5}."""


def parse_scores(text: str) -> dict[str, int | None]:
    """The scores in the judge's reply; None for a criterion it did not score within 1-5."""
    match = re.search(r"\{.*?\}", text, re.DOTALL)
    try:
        found = json.loads(match.group(0)) if match else {}
    except json.JSONDecodeError:
        found = {}
    scores: dict[str, int | None] = {}
    for name in CRITERIA:
        value = found.get(name) if isinstance(found, dict) else None
        scores[name] = int(value) if isinstance(value, int | float) and 1 <= value <= 5 else None
    return scores


class Judge:
    def __init__(self, base_url: str, model: str, api_key: str = "none"):
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=1)
        self.model = model

    def score(self, row: dict) -> dict[str, int | None]:
        citations = enumerate(row["citations"], start=1)
        sources = "\n".join(f"{citation_marker(n)} {c.get('snippet', '')}" for n, c in citations)
        turns = row.get("messages") or []  # a conversation: the judge reads it up to the follow-up
        asked = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in turns[:-1])
        content = (
            (f"Conversation so far:\n{asked}\n" if asked else "")
            + f"Question: {row['question']}\n\nReference answer: {row['reference_answer'] or '(none)'}\n\n"
            f"Sources shown to the assistant:\n{sources or '(none)'}\n\nAssistant's answer: {row['answer']}"
        )
        try:
            reply = self.client.chat.completions.create(
                model=self.model, temperature=0.0, max_tokens=100,
                messages=[{"role": "system", "content": RUBRIC}, {"role": "user", "content": content}],
            )
        except openai.OpenAIError as err:
            raise RagtuneError(f"judge at {self.client.base_url}: {err}") from None
        return parse_scores(reply.choices[0].message.content or "")
