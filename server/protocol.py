"""The OpenAI-shaped bodies the server reads and writes (pydantic), requests and responses, plus ragtune's
extensions (`rag`, `style`, `citations`). A field that changes the output either works or is refused by name."""

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import RagtuneError

NO_NUL = r"^[^\x00]*$"  # a path or name the operating system can take
MAX_DOCUMENT_CHARS = 2_000_000  # an admin text document (the request body is capped by server.max_body_mb)
NonEmpty = Annotated[str, Field(min_length=1)]
# Fields OpenAI defines that change the output and that ragtune does not do: refused, never silently dropped.
UNSUPPORTED_FIELDS = ("logit_bias", "audio", "modalities", "prediction", "web_search_options", "functions")


def _when(given: dict, required: list[str], then: dict | None = None) -> dict:
    """A JSON-schema rule a model's validator enforces: when the fields in `given` are present and match,
    `required` must be there too (and match `then`)."""
    rule = {"required": required, **({"properties": then} if then else {})}
    return {"if": {"properties": given, "required": list(given)}, "then": rule}


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[dict] | None = None
    tool_call_id: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def text_parts_only(cls, content):
        """OpenAI also allows content as a list of parts; ragtune reads text parts and refuses others, by
        name (before pydantic's own message about the union's members)."""
        if isinstance(content, list):
            for index, part in enumerate(content):
                if (
                    not isinstance(part, dict)
                    or part.get("type") != "text"
                    or not isinstance(part.get("text"), str)
                ):
                    raise ValueError(
                        f"part {index}: only {{'type': 'text', 'text': '...'}} parts are supported"
                    )
        return content

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


# A filter matches a metadata field equal to the value, or a list field (tags) holding it (or all of a list).
FilterValue = str | int | float | bool
Filters = dict[str, FilterValue | list[FilterValue]]


class RagOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    top_k: int | None = Field(default=None, ge=1, le=50)
    collection: str | None = None
    filters: Filters | None = Field(default=None, max_length=32)


class StreamOptions(BaseModel):
    include_usage: bool = False


class JsonSchema(BaseModel):
    name: str = "response"
    schema_: dict = Field(default_factory=dict, alias="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(
        json_schema_extra=_when(
            {"type": {"const": "json_schema"}}, ["json_schema"], {"json_schema": {"type": "object"}}
        )
    )
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None

    @model_validator(mode="after")
    def schema_given(self):
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type 'json_schema' needs a 'json_schema' object with a 'schema'")
        return self


class FunctionDefinition(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(BaseModel):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class ToolName(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"] = "function"
    function: ToolName


# What refuse_unsupported checks, as the schema says it (a tool named in tool_choice must also be one of
# `tools`, which a schema cannot say)
_TOOLS_GIVEN = {"tools": {"type": "array", "minItems": 1}}
_CHAT_RULES = [
    _when({"top_logprobs": {"type": "integer"}}, ["logprobs"], {"logprobs": {"const": True}}),
    _when({"tool_choice": {"enum": ["required"]}}, ["tools"], _TOOLS_GIVEN),
    _when({"tool_choice": {"type": "object"}}, ["tools"], _TOOLS_GIVEN),
    # with tools, "auto" (the default) needs a tool-call parser, which ragtune does not have (server/shaping.py)
    _when(_TOOLS_GIVEN, ["tool_choice"], {"tool_choice": {"not": {"enum": ["auto", None]}}}),
    {"properties": {name: {"type": "null"} for name in UNSUPPORTED_FIELDS}},
]


class ChatCompletionRequest(BaseModel):
    # unknown fields are allowed, those in UNSUPPORTED_FIELDS only as null
    model_config = ConfigDict(extra="allow", json_schema_extra={"allOf": _CHAT_RULES})

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: NonEmpty | Annotated[list[NonEmpty], Field(max_length=4)] | None = None
    min_tokens: int = Field(default=0, ge=0)  # vLLM's extension: no end of sequence before this many
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=8)
    stream: bool = False
    stream_options: StreamOptions | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    repetition_penalty: float | None = Field(default=None, gt=0.0, le=2.0)  # vLLM's extension
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    user: str | None = Field(default=None, max_length=256)
    rag: RagOptions = RagOptions()
    style: str | None = None
    curated: bool = True  # False: never answered by a curated answer (the compare page shows both)

    @model_validator(mode="after")
    def refuse_unsupported(self):
        for name in UNSUPPORTED_FIELDS:
            if (self.model_extra or {}).get(name) is not None:
                raise ValueError(f"'{name}' is not supported by this server")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("'top_logprobs' needs 'logprobs': true")
        if isinstance(self.tool_choice, NamedToolChoice):
            names = {tool.function.name for tool in self.tools or []}
            if self.tool_choice.function.name not in names:
                raise ValueError(f"tool_choice names '{self.tool_choice.function.name}', not in 'tools'")
        if self.tool_choice == "required" and not self.tools:
            raise ValueError("tool_choice 'required' needs 'tools'")
        return self

    def stop_list(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    def conversation(self) -> list[dict]:
        """Messages as plain dicts; OpenAI's "developer" role is a system turn."""
        return [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in self.messages
        ]


def check_unicode(body: object) -> None:
    """A JSON escape of a lone surrogate ("\\ud800") parses to text that UTF-8 cannot encode and that no
    tokenizer, log or database takes: refused where it is, before anything reads the body."""
    stack: list[tuple[list, object]] = [([], body)]  # not recursive: JSON nests as deep as its parser allows
    while stack:
        path, value = stack.pop()
        if isinstance(value, str) and not _encodable(value):
            param = ".".join(map(str, path)) or None
            raise RagtuneError(
                f"{param or 'body'}: the text holds a lone surrogate (an unpaired \\ud800-\\udfff escape); "
                "send UTF-8 text",
                param=param,
                code="invalid_unicode",
            )
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            stack.append(([*path, key], item))
            if isinstance(key, str):
                stack.append((path, key))  # a bad key is named by the object holding it


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_chat_size(body: object, max_messages: int, max_chars: int) -> None:
    """One request cannot hold the server: at most `max_messages` messages and `max_chars` characters of
    text. Checked on the parsed JSON before it is validated (validating 10,000 messages takes time too);
    anything malformed is left to the validation."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return
    contents = [m.get("content") for m in messages if isinstance(m, dict)]
    parts = [p for c in contents if isinstance(c, list) for p in c if isinstance(p, dict)]
    texts = [c for c in contents if isinstance(c, str)] + [p.get("text") for p in parts]
    chars = sum(len(text) for text in texts if isinstance(text, str))
    if len(messages) > max_messages or chars > max_chars:
        raise RagtuneError(
            f"messages: {len(messages)} messages with {chars} characters of text; this server takes at most "
            f"{max_messages} messages and {max_chars} characters (server.max_messages, server.max_request_chars)",
            param="messages",
            code="request_too_large",
        )


class Citation(BaseModel):
    source: str
    title: str
    document_id: str
    chunk_id: str
    score: float
    snippet: str


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0  # read from the engine's prefix cache instead of computed


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = PromptTokensDetails()


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob]


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: dict  # {"name", "arguments": JSON text}


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCall] | None = None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str | None
    logprobs: ChoiceLogprobs | None = None


class Handoff(BaseModel):
    """The conversation should go to a person: a front end transfers it (and shows `message`)."""

    reason: Literal["user_asked", "fallback", "blocked_input", "blocked_output"]
    detail: str
    message: str  # what the user was told, in their language


class Variant(BaseModel):
    experiment: str
    variant: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[Citation] = []
    grounding: dict | None = None  # RAG requests: the relevance gate's decision and the answer check
    rails: dict = {}  # {"input": [decisions], "output": [decisions]}: rule, action, kind, count
    handoff: Handoff | None = None
    variant: Variant | None = None  # the A/B experiment and variant that answered
    # A conversational turn (greeting, thanks, goodbye, identity, clarify) answered with its preset reply:
    # {"act", "acts"}; None for a question.
    dialogue: dict | None = None
    # Answered word for word by an editor's curated answer: {"id", "question", "score"}; None otherwise.
    curated: dict | None = None


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[dict] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: ChunkDelta
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    citations: list[Citation] | None = None  # the first chunk
    # The first chunk: what was decided before generating; the chunk with the last finish_reason: final.
    grounding: dict | None = None
    rails: dict | None = None
    handoff: Handoff | None = None
    variant: Variant | None = None
    dialogue: dict | None = None  # the first chunk
    curated: dict | None = None  # the first chunk


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "ragtune"
    parent: str | None = None
    # What a request that sets none of them is answered with: temperature, top_p and the penalties.
    decoding: dict[str, float] | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class EmbeddingRequest(BaseModel):
    model: str
    input: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1, max_length=256)]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)  # the embedder's own (others are refused by name)
    user: str | None = None


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class TextDocument(BaseModel):
    """Admin upload of plain text (instead of a file)."""

    text: str = Field(max_length=MAX_DOCUMENT_CHARS, pattern=r"\S")  # not blank
    title: str = Field(default="document", min_length=1, max_length=200)
    collection: str | None = None
    metadata: dict[str, Any] = {}


class SyncRequest(BaseModel):
    """A folder inside knowledge.sync_roots (a relative one is looked up under them)."""

    folder: str = Field(min_length=1, max_length=4096, pattern=NO_NUL)
    collection: str | None = None
    dry_run: bool = False  # report what would change, change nothing
    allow_mass_removal: bool = False  # needed to remove more than knowledge.max_sync_removal_share


class RollbackRequest(BaseModel):
    version: int


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())
