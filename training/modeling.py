"""Loading a causal LM for training on the hardware at hand, and the LoRA layers per architecture."""

import torch

from core.errors import RagtuneError

# Attention and MLP projections per architecture (model_type); others get PEFT's "all-linear".
_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo2", "granite")
TARGET_MODULES = {
    **{model_type: list(_PROJECTIONS) for model_type in _LLAMA_LIKE},
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
}


def target_modules(model, override: list[str] | None) -> list[str] | str:
    return override or TARGET_MODULES.get(model.config.model_type, "all-linear")


def mixed_precision() -> dict:
    """bf16 where the GPU has it, else fp16 on CUDA; full precision on CPU."""
    if not torch.cuda.is_available():
        return {"bf16": False, "fp16": False}
    bf16 = torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": not bf16}


def load_for_training(model_path: str, finetune: str):
    from transformers import AutoModelForCausalLM

    if finetune not in ("lora", "qlora", "full"):
        raise RagtuneError(f"training.finetune: unknown method '{finetune}' (lora, qlora or full)")
    if finetune != "lora" and not torch.cuda.is_available():
        raise RagtuneError(
            f"training.finetune={finetune} needs a CUDA GPU and none is available; "
            "use finetune=lora on this machine"
        )
    kwargs = {"dtype": torch.float32}
    if finetune == "qlora":
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        kwargs = {
            "quantization_config": BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=compute,
                bnb_4bit_use_double_quant=True,
            ),
            "device_map": {"": 0},
        }
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    except (OSError, ValueError) as err:
        raise RagtuneError(f"base model '{model_path}' could not be loaded: {err}") from err
    if finetune == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    return model


def load_tokenizer(model_path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
