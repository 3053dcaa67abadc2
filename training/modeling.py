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
# Architectures whose logits are their output layer applied to the last hidden state, with transformers'
# causal-LM loss: no softcapping or scaling in between (unlike gemma2, gemma3 and granite), so that loss
# can be computed from the hidden states (training/loss.py).
_SCALED_LOGITS = ("gemma2", "gemma3_text", "granite")
PLAIN_OUTPUT_LAYER = {*_LLAMA_LIKE, "phi3", "gpt2", "gpt_neox", "smollm3"} - set(_SCALED_LOGITS)


def target_modules(model, override: list[str] | None) -> list[str] | str:
    return override or TARGET_MODULES.get(model.config.model_type, "all-linear")


def output_layer(model) -> torch.nn.Module | None:
    """The output layer (lm_head) of a PEFT-wrapped or bare causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_output_embeddings()


def has_plain_output_layer(model) -> bool:
    """Whether the model's logits are exactly a linear layer (not LoRA-wrapped) of its last hidden state."""
    return model.config.model_type in PLAIN_OUTPUT_LAYER and type(output_layer(model)) is torch.nn.Linear


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
