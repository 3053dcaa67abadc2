"""Training settings (one section of ragtune's Settings)."""

from pydantic import BaseModel


class TrainingSettings(BaseModel):
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] | None = None  # None: found per architecture
    learning_rate: float = 2e-4
    epochs: float = 2.0
    batch_size: int = 8
    grad_accum: int = 1
    max_seq_len: int = 512
    warmup_ratio: float = 0.05
    seed: int = 42
