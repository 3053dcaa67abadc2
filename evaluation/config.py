"""Evaluation settings (the `evaluation` section of ragtune's Settings)."""

from pydantic import BaseModel


class EvaluationSettings(BaseModel):
    judge_base_url: str | None = None  # OpenAI-compatible endpoint for the optional judge
    judge_model: str | None = None
    judge_api_key: str = "none"
    bootstrap_samples: int = 1000
    seed: int = 0
    max_tokens: int = 160  # answer length cap per question (support answers are short)
    concurrency: int = 4  # questions in flight at once (one combination at a time)
    groundedness_threshold: float = 0.6  # cosine (all-MiniLM) an answer sentence needs to count as supported
    server_start_timeout_s: int = 600
