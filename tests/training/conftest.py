"""Training fixtures: a tiny random Llama with the embedded model's tokenizer, and small data."""

import pytest

from training.data import Conversation
from training.output import TrainingFolders


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, chat_model_path) -> str:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(chat_model_path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        initializer_range=0.4,  # large enough that the tied output layer can express confident tokens
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def make_samples():
    return _make_samples


def _make_samples(n: int, offset: int = 0) -> list[Conversation]:
    """Answers in one fixed house style, so a few steps of training learn it."""
    products = ["charger", "headset", "speaker", "lamp", "watch", "kettle", "router", "camera"]
    samples = []
    for i in range(offset, offset + n):
        product = products[i % len(products)]
        samples.append(
            Conversation(
                messages=[
                    {"role": "user", "content": f"Question {i}: does the {product} have a warranty?"},
                    {
                        "role": "assistant",
                        "content": f"Northwind Gadgets: yes, the {product} has a two year warranty.",
                    },
                ],
                intent="warranty",
                origin=f"test:{i}",
            )
        )
    return samples


def folders(settings) -> TrainingFolders:
    """Training's folders under the settings' home, as the CLI passes them."""
    return TrainingFolders(
        models=settings.models_dir, adapters=settings.adapters_dir, checkpoints=settings.home / "checkpoints"
    )


def tiny_training(settings, **extra):
    """Training settings small and fast enough for the tiny model to learn the house style in a few steps."""
    training = settings.training.model_copy(
        update={
            "learning_rate": 3e-2,
            "batch_size": 4,
            "max_seq_len": 128,
            "logging_steps": 1,
            "lora_r": 8,
            "lora_alpha": 16,
            "warmup_ratio": 0.0,
            "epochs": 4.0,
            **extra,
        }
    )
    return settings.model_copy(update={"training": training})


@pytest.fixture
def tiny_settings(settings, tiny_model):
    return tiny_training(settings.model_copy(update={"chat_model": tiny_model}))
