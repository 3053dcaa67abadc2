"""The OpenAI-shaped bodies the server reads and writes (pydantic), plus ragtune's extensions."""

import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict] | None = None

    def text(self) -> str:
        """OpenAI also allows content as a list of parts; ragtune reads the text parts."""
        if isinstance(self.content, list):
            return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class RagOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    top_k: int | None = Field(default=None, ge=1, le=50)
    collection: str | None = None
    filters: dict | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # like OpenAI's server, unknown fields are ignored

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    min_tokens: int = Field(default=0, ge=0)  # vLLM's extension: no end of sequence before this many
    seed: int | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    rag: RagOptions = RagOptions()
    style: str | None = None

    @field_validator("n")
    @classmethod
    def only_one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n=1 is supported")
        return n

    def stop_list(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    def conversation(self) -> list[dict]:
        """Messages as plain dicts; OpenAI's "developer" role is a system turn."""
        return [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in self.messages
        ]


class Citation(BaseModel):
    source: str
    title: str
    document_id: str
    chunk_id: str
    score: float
    snippet: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


class TextDocument(BaseModel):
    """Admin upload of plain text (instead of a file)."""

    text: str = Field(min_length=1)
    title: str = Field(default="document", min_length=1, max_length=200)
    collection: str | None = None
    metadata: dict = {}


class SyncRequest(BaseModel):
    folder: str
    collection: str | None = None


class RollbackRequest(BaseModel):
    version: int
