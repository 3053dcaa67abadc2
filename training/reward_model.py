"""A reward model: the base model with a LoRA adapter and a one-number head (sequence classification, PEFT's
SEQ_CLS), trained by TRL's RewardTrainer to score the chosen answer of each pair above the rejected one.
Pairs come from a DPO-style file or from rated answers (thumbs) to the same prompt; every prompt is built by
the prompt contract as the server builds it, so a score reads the answer in the context the user saw.

It is saved beside the adapters (method "reward": `ragtune adapters list` shows it, the server refuses to
serve it as a chat model). `RewardModel.load(folder).score(messages, completion)` scores one answer; online
RL adds it to its reward with `ragtune train rl --reward-model NAME` (RewardModel.judge, the `reward_model`
part of evaluation/rewards.py)."""

import math
from pathlib import Path

from core.adapters import AdapterInfo, read_adapter_info
from core.chat_model import model_fingerprint, prepare_chat_model
from core.errors import RagtuneError
from core.prompt import DEFAULT_SYSTEM_PROMPT, PROMPT_FORMAT, Source, as_text, build_prompt
from core.settings import TrainingSettings
from training.arguments import preference_arguments
from training.data import PreferencePair, load_kto, load_preferences, pairs_from_ratings, read_records
from training.encoding import preference_row
from training.modeling import load_tokenizer, target_modules
from training.output import (
    TrainingFolders,
    check_writable,
    checkpoint_folder,
    data_fingerprint,
    save_model_folder,
)
from training.rl import RlSample

REWARD_METHOD = "reward"


def load_reward_pairs(path: Path) -> tuple[list[PreferencePair], int]:
    """Pairs from a file of preference pairs (chosen, rejected) or of rated answers (completion, label),
    the latter paired within each prompt; and how many rated answers found no partner."""
    records = read_records(path)
    if records and isinstance(records[0][1], dict) and "label" in records[0][1]:
        pairs, unpaired = pairs_from_ratings(load_kto(path))
        if not pairs:
            raise RagtuneError(
                f"{path}: no prompt has both an answer rated good and one rated bad, so no pair can be made"
            )
        return pairs, unpaired
    return load_preferences(path), 0


def train_reward(
    pairs: list[PreferencePair],
    *,
    training: TrainingSettings,
    folders: TrainingFolders,
    name: str,
    base_model: str,
    system_prompt: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: tuple = (),
) -> AdapterInfo:
    """Reward model `name` (folders.adapters/NAME) on `base_model`, trained on `pairs` for training.epochs
    (or max_steps) at training.learning_rate; prompts without a system prompt of their own get
    `system_prompt` (None: the built-in one)."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import set_seed
    from trl import RewardTrainer

    dest = folders.adapters / name
    check_writable(dest, overwrite)
    set_seed(training.seed)
    model_path = prepare_chat_model(base_model, folders.models)
    tokenizer = load_tokenizer(model_path)
    model = _scoring_model(model_path, tokenizer)
    system_prompt = system_prompt or DEFAULT_SYSTEM_PROMPT
    rows = [preference_row(pair, tokenizer, system_prompt, training.max_seq_len) for pair in pairs]
    checkpoints = checkpoint_folder(folders, name)
    trainer = RewardTrainer(
        model=model,
        args=_reward_arguments(training, checkpoints, progress),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=training.lora_r,
            lora_alpha=training.lora_alpha,
            lora_dropout=training.lora_dropout,
            task_type="SEQ_CLS",  # PEFT trains and saves the score head along with the LoRA layers
            target_modules=target_modules(model, training.target_modules),
        ),
        callbacks=list(callbacks),
    )
    output = trainer.train()
    info = AdapterInfo(
        name=name,
        base_model=base_model,
        base_fingerprint=model_fingerprint(model_path),
        prompt_format=PROMPT_FORMAT,
        system_prompt=system_prompt,
        method=REWARD_METHOD,
        rank=training.lora_r,
        data_fingerprint=data_fingerprint(pairs),
        settings={**training.model_dump(), "pairs": len(pairs)},
        train_loss=output.training_loss,
    )
    save_model_folder(trainer.model, dest, overwrite, info, trainer.state.log_history)
    return info


class RewardModel:
    """A trained reward model, ready to score answers: higher is better, a logit (sigmoid: a probability)."""

    def __init__(self, model, tokenizer, info: AdapterInfo):
        self.model, self.tokenizer, self.info = model, tokenizer, info

    @classmethod
    def load(cls, folder: Path, models_dir: Path | None = None) -> "RewardModel":
        """The reward model in `folder` on its base model (prepared in `models_dir`, default: the settings')."""
        from peft import PeftModel

        folder = Path(folder)
        info = read_adapter_info(folder)
        if info.method != REWARD_METHOD:
            raise RagtuneError(
                f"{folder}: adapter '{info.name}' is a {info.method} adapter, not a reward model"
            )
        if models_dir is None:
            from core.settings import Settings

            models_dir = Settings().models_dir
        model_path = prepare_chat_model(info.base_model, models_dir)
        tokenizer = load_tokenizer(model_path)
        model = PeftModel.from_pretrained(_scoring_model(model_path, tokenizer), folder).eval()
        return cls(model, tokenizer, info)

    def score(
        self,
        messages: list[dict],
        completion: str,
        sources: list[Source] | None = None,
        system_prompt: str | None = None,
        style: str | None = None,
    ) -> float:
        """The reward of `completion` as the answer to `messages`, prompted as the server prompts (with
        `sources` when RAG is on; the system prompt it was trained with unless one is given)."""
        prompt = build_prompt(
            messages,
            sources,
            tokenizer=self.tokenizer,
            system_prompt=system_prompt or self.info.system_prompt or DEFAULT_SYSTEM_PROMPT,
            style=style,
            max_prompt_tokens=self.info.settings.get("max_seq_len", 2048),
        ).messages
        return self.score_served(prompt, completion)

    def score_served(self, prompt: list[dict], completion: str) -> float:
        """The reward of `completion` after `prompt`, the messages as the server built them (core.prompt's
        Prompt.messages: its system turn holds the sources)."""
        import torch

        answer = {"role": "assistant", "content": as_text(completion, self.tokenizer)}
        text = self.tokenizer.apply_chat_template([*prompt, answer], tokenize=False)
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            return float(self.model(input_ids=ids).logits[0, 0])

    def probability(self, messages: list[dict], completion: str, **prompt) -> float:
        """The score as a probability in (0, 1) that the answer is the better one: what a weighted mean of
        reward parts can take."""
        return _sigmoid(self.score(messages, completion, **prompt))

    def judge(self, answer: str, sample: RlSample) -> float:
        """The `reward_model` part of online RL's reward (evaluation/rewards.py): the probability for an
        answer sampled after the sample's served prompt, which is what the policy read."""
        return _sigmoid(self.score_served(sample.prompt_messages, answer))


def _sigmoid(score: float) -> float:
    return 1 / (1 + math.exp(-score))


def _scoring_model(model_path: Path, tokenizer):
    """The base model with a one-number head; the pad token tells it where each sequence ends."""
    import torch
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path, num_labels=1, dtype=torch.float32
        )
    except (OSError, ValueError) as err:
        raise RagtuneError(f"base model '{model_path}' could not be loaded for scoring: {err}") from err
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def _reward_arguments(cfg: TrainingSettings, checkpoints: Path, progress: bool):
    from trl import RewardConfig

    return RewardConfig(
        **preference_arguments(cfg, checkpoints, progress),
        per_device_train_batch_size=min(cfg.batch_size, 4),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        gradient_checkpointing=False,
    )
