"""The LoRA adapter the serving benchmarks load: rank 16 on q/k/v/o, with weights in every part.

PEFT starts an adapter with its second matrix at zero (it changes nothing until trained). A benchmark adapter
must change the model as a trained one does, or an engine could serve it as the base model: both matrices
are filled here, small enough that the model still writes text.
"""

from pathlib import Path

RANK = 16


def write_bench_adapter(model_path: str, folder: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    lora = LoraConfig(r=RANK, lora_alpha=2 * RANK, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_path), lora)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.copy_(torch.randn(weight.shape, generator=generator) * 1e-2)
    model.save_pretrained(folder)
