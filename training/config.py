"""Training settings (one section of ragtune's Settings)."""

from pydantic import BaseModel


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
    raft_top_k: int = 4  # sources per retrieval-aware sample
    raft_decline_share: float = 0.2  # samples whose gold source is left out, answered "not in my sources"
    dpo_beta: float = 0.1
    dpo_learning_rate: float = 5e-6
