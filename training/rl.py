"""Online RL of an adapter through TRL (GRPO or RLOO, training.rl_algorithm) on the server's own RAG prompts.

Each question of a set gets the hits serving's search gives it (training.raft.RaftRetriever: the same query,
top_k and excerpts), the relevance gate serving applies (a question it answers with the fallback never
reaches the model, so it is left out) and the prompt serving builds (core.prompt.build_prompt), as text: TRL
tokenizes it as the server does. The model samples rl_generations answers per prompt and learns from a
reward: any object with `parts` and `total` (evaluation/rewards.py, verifiable checks of a RAG answer).
Generation is transformers' generate: why not vLLM, and why the default algorithm, docs/decisions/rl.md."""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from core.adapters import AdapterInfo
from core.errors import RagtuneError
from core.prompt import DEFAULT_SYSTEM_PROMPT, build_prompt
from core.settings import TrainingSettings
from retrieval.types import Hit
from training.arguments import run_arguments
from training.modeling import load_for_training, load_tokenizer
from training.output import (
    TrainingFolders,
    check_writable,
    checkpoint_folder,
    data_fingerprint,
    prepared_base,
    save_tuned_adapter,
    starting_adapter,
)
from training.raft import RaftRetriever, as_source, is_gold


@dataclass(frozen=True)
class RlQuestion:
    """A question of the set: the conversation ending with it, and what the question file says of it."""

    messages: list[dict]
    gold_sources: list[str] = field(default_factory=list)
    answerable: bool = True
    key_facts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RlSample:
    """One prompt to sample answers for, and what a reward needs to judge them."""

    prompt: str  # what the engine receives, rendered (core.prompt.Prompt.text)
    prompt_messages: list[dict]  # the same prompt as messages (Prompt.messages): what a reward model reads
    question: str  # the last user turn
    sources: list[str]  # the text of the numbered sources in the prompt, in their order
    gold: list[int]  # the numbers of the sources from a gold document
    key_facts: list[str]
    should_decline: bool  # the sources hold no answer: unanswerable, or no gold document among them


class Reward(Protocol):
    def parts(self, answer: str, sample: RlSample) -> dict[str, float | None]: ...

    def total(self, parts: dict[str, float | None]) -> float: ...


# Whether serving's relevance gate lets the conversation's hits through to generation (rails.grounding).
Gate = Callable[[list[dict], list[Hit]], bool]


@dataclass
class RlResult:
    output_dir: Path
    info: AdapterInfo
    samples: int
    gated: int  # questions left out: the gate answers them with the fallback
    global_step: int
    train_runtime: float
    log_history: list[dict]


def rl_samples(
    questions: Sequence[RlQuestion],
    retriever: RaftRetriever,
    tokenizer,
    *,
    system_prompt: str,
    max_prompt_tokens: int,
    gate: Gate | None = None,
) -> tuple[list[RlSample], int]:
    """The prompts serving builds for the questions, and how many questions the gate left out."""
    fit = retriever.fitter(tokenizer)
    samples, gated = [], 0
    for question in questions:
        hits = retriever.served(question.messages)
        if gate is not None and not gate(question.messages, hits):
            gated += 1
            continue
        kept = fit(question.messages, hits)
        prompt = build_prompt(
            question.messages,
            [as_source(hit) for hit in kept],
            tokenizer=tokenizer,
            system_prompt=system_prompt,
            max_prompt_tokens=max_prompt_tokens,
        )
        shown = kept[: len(prompt.sources)]
        gold = [n for n, hit in enumerate(shown, start=1) if is_gold(hit, question.gold_sources)]
        samples.append(
            RlSample(
                prompt=prompt.text,
                prompt_messages=prompt.messages,
                question=question.messages[-1]["content"],
                sources=[source.text for source in prompt.sources],
                gold=gold,
                key_facts=list(question.key_facts),
                should_decline=not question.answerable or (bool(question.gold_sources) and not gold),
            )
        )
    return samples, gated


def reward_function(reward: Reward) -> Callable[..., list[float]]:
    """The reward as TRL calls it: one total per completion, each part's mean logged as reward_parts/NAME."""

    def rag_reward(prompts, completions, log_metric=None, **columns) -> list[float]:
        totals, scored = [], {}
        for index, answer in enumerate(completions):
            sample = RlSample(prompt=prompts[index], **{key: columns[key][index] for key in _SAMPLE_COLUMNS})
            parts = reward.parts(answer, sample)
            totals.append(reward.total(parts))
            for part, value in parts.items():
                if value is not None:
                    scored.setdefault(part, []).append(value)
        for part, values in scored.items():
            if log_metric is not None:
                log_metric(f"reward_parts/{part}", sum(values) / len(values))
        return totals

    return rag_reward


_SAMPLE_COLUMNS = ("prompt_messages", "question", "sources", "gold", "key_facts", "should_decline")


def train_rl(
    questions: Sequence[RlQuestion],
    reward: Reward,
    *,
    retriever: RaftRetriever,
    training: TrainingSettings,
    folders: TrainingFolders,
    from_adapter: str,
    name: str,
    max_prompt_tokens: int,
    system_prompt: str | None = None,
    gate: Gate | None = None,
    reward_model: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: tuple = (),
) -> RlResult:
    """Adapter `name` (folders.adapters/NAME): adapter `from_adapter` tuned by RL on the questions' RAG
    prompts, served with `system_prompt` (the server's; None: the one `from_adapter` was trained with);
    `reward_model` names the reward model in `reward`, if any, for the adapter's record."""
    from datasets import Dataset
    from peft import PeftModel

    parent = starting_adapter(folders, from_adapter, "RL")
    dest = folders.adapters / name
    check_writable(dest, overwrite)
    model_path = prepared_base(parent, folders)
    tokenizer = load_tokenizer(model_path)
    system_prompt = system_prompt or parent.system_prompt or DEFAULT_SYSTEM_PROMPT
    samples, gated = rl_samples(
        questions,
        retriever,
        tokenizer,
        system_prompt=system_prompt,
        max_prompt_tokens=max_prompt_tokens,
        gate=gate,
    )
    if not samples:
        raise RagtuneError("no question to train on: the relevance gate answers every one with the fallback")
    checkpoints = checkpoint_folder(folders, name, resume)
    source_dir = folders.adapters / from_adapter
    model = PeftModel.from_pretrained(load_for_training(model_path, "lora"), source_dir, is_trainable=True)
    trainer_class, config_class = _algorithm(training.rl_algorithm)
    trainer = trainer_class(
        model=model,
        reward_funcs=[reward_function(reward)],
        args=config_class(**_arguments(training, checkpoints, progress)),
        train_dataset=Dataset.from_list([asdict(sample) for sample in samples]),
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    output = trainer.train(resume_from_checkpoint=True if resume else None)
    history = trainer.state.log_history
    info = AdapterInfo(
        name=name,
        base_model=parent.base_model,
        base_fingerprint=parent.base_fingerprint,
        method=f"rl-{training.rl_algorithm}",
        rank=parent.rank,
        data_fingerprint=data_fingerprint(samples),
        settings={
            **parent.settings,
            "rl_from": from_adapter,
            **{key: value for key, value in training.model_dump().items() if key.startswith("rl_")},
            **({"rl_reward_model": reward_model} if reward_model else {}),
        },
        train_loss=output.training_loss,
        system_prompt=system_prompt,
        styles=parent.styles,
    )
    save_tuned_adapter(model, dest, overwrite, info, history)
    return RlResult(
        output_dir=dest,
        info=info,
        samples=len(samples),
        gated=gated,
        global_step=trainer.state.global_step,
        train_runtime=output.metrics["train_runtime"],
        log_history=history,
    )


def _algorithm(algorithm: str):
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    return {"grpo": (GRPOTrainer, GRPOConfig), "rloo": (RLOOTrainer, RLOOConfig)}[algorithm]


def _arguments(cfg: TrainingSettings, checkpoints: Path, progress: bool) -> dict:
    """One micro-batch is one prompt's answers; an optimizer step takes rl_questions_per_step prompts, all
    generated at once. A checkpoint after every logging interval, so a run stopped midway resumes."""
    return {
        **run_arguments(cfg, checkpoints, progress),
        "per_device_train_batch_size": cfg.rl_generations,
        "gradient_accumulation_steps": cfg.rl_questions_per_step,
        "num_generations": cfg.rl_generations,
        "max_completion_length": cfg.rl_max_completion_tokens,
        "learning_rate": cfg.rl_learning_rate,
        "beta": cfg.rl_beta,
        "num_train_epochs": cfg.epochs,
        "lr_scheduler_type": "constant",
        "save_strategy": "steps",
        "save_steps": cfg.logging_steps,
        "save_total_limit": 1,
    }
