"""`ragtune train rl`: online RL of an adapter on the server's own RAG prompts for a question set, rewarded by
the verifiable checks of evaluation/rewards.py and, optionally, a trained reward model (each part's weight:
training.rl_reward_weights)."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from core.errors import RagtuneError
from core.settings import Settings
from ragtune.cli_train import Overwrite, _folders, _kb_retriever, _with_overrides

if TYPE_CHECKING:
    from core.settings import TrainingSettings
    from evaluation.questions import Question
    from training.rl import RlResult

console = Console()


def train_rl_command(
    questions: Annotated[
        Path,
        typer.Option(help="question set, as `ragtune eval` reads it: question, gold_sources, answerable, key_facts"),
    ],
    from_adapter: Annotated[str, typer.Option("--from", help="the adapter to start from")],
    name: Annotated[str, typer.Option(help="name of the new adapter")],
    collection: Annotated[str | None, typer.Option(help="knowledge-base collection the server searches")] = None,
    algorithm: Annotated[
        Literal["grpo", "rloo"] | None, typer.Option(help="default: training.rl_algorithm")
    ] = None,
    epochs: float | None = None,
    max_steps: int | None = None,
    reward_model: Annotated[
        str | None,
        typer.Option(
            help="a reward model (`ragtune train reward`) as one more reward part, weighted by "
            "training.rl_reward_weights.reward_model (1 when unset)"
        ),
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue the last checkpoint of this run")] = False,
    overwrite: Overwrite = False,
    progress_lines: Annotated[bool, typer.Option(help="print progress as 'step N/M' lines (for a log)")] = False,
) -> None:
    """Online RL (GRPO or RLOO) of an adapter: answers sampled for the server's RAG prompts of each question,
    rewarded for citing, grounding, key facts, declining right, language and length, and by a reward model
    where one is named."""
    from evaluation.questions import load_questions

    settings = _with_overrides(Settings(), epochs=epochs, max_steps=max_steps, rl_algorithm=algorithm)
    result = run_rl(
        settings,
        load_questions(questions),
        from_adapter=from_adapter,
        name=name,
        collection=collection,
        reward_model=reward_model,
        resume=resume,
        overwrite=overwrite,
        progress_lines=progress_lines,
    )
    rewards = [entry["reward"] for entry in result.log_history if "reward" in entry]
    trend = f"; mean reward {rewards[0]:.3f} at the first log, {rewards[-1]:.3f} at the last" if rewards else ""
    console.print(
        f"[green]adapter '{name}' written[/green] to {result.output_dir} after {result.global_step} steps "
        f"({settings.training.rl_algorithm}) on {result.samples} questions{trend}"
    )
    if result.gated:
        console.print(
            f"{result.gated} questions left out: the relevance gate answers them with the fallback, "
            "so serving never asks the model"
        )


def run_rl(
    settings: Settings,
    questions: "list[Question]",
    *,
    from_adapter: str,
    name: str,
    collection: str | None,
    reward_model: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress_lines: bool = False,
) -> "RlResult":
    """RL as `ragtune train rl` runs it: the server's retrieval, relevance gate and prompt, the reward from
    settings and, when named, reward model `reward_model` (the demo benchmark calls this too)."""
    from evaluation.rewards import RagReward
    from rails.groundedness import GroundednessChecker
    from rails.grounding import GroundingGate
    from retrieval.query import resolve_query
    from training.progress import ProgressLines
    from training.rl import RlQuestion, train_rl

    training = _with_reward_model_weight(settings.training, reward_model)
    judge = None
    if reward_model:
        from training.reward_model import RewardModel

        judge = RewardModel.load(settings.adapters_dir / reward_model, settings.models_dir).judge
        weight = training.rl_reward_weights["reward_model"]
        console.print(f"reward model '{reward_model}' is the reward_model part, weight {weight:g}")
    retriever = _kb_retriever(settings, collection)
    grounding = GroundingGate(settings.rails.grounding, idf=retriever.kb.idf)

    def gate(conversation: list[dict], hits) -> bool:
        return grounding.decide_query(resolve_query(conversation, settings.retrieval), hits).answered

    checker = GroundednessChecker(retriever.kb.embedder, settings.evaluation.groundedness_threshold)
    return train_rl(
        [
            RlQuestion(q.chat_messages(), q.gold_sources, q.answerable, q.key_facts)
            for q in questions
        ],
        RagReward(training.rl_reward_weights, checker, training.rl_max_answer_words, reward_model=judge),
        retriever=retriever,
        training=training,
        folders=_folders(settings),
        from_adapter=from_adapter,
        name=name,
        max_prompt_tokens=settings.engine.max_model_len - training.rl_max_completion_tokens,
        system_prompt=settings.server.system_prompt,
        gate=gate,
        reward_model=reward_model,
        resume=resume,
        overwrite=overwrite,
        progress=not progress_lines,
        callbacks=(ProgressLines(),) if progress_lines else (),
    )


def _with_reward_model_weight(training: "TrainingSettings", reward_model: str | None) -> "TrainingSettings":
    """The settings with the reward_model part's weight: 1 when a reward model is named and the recipe sets
    none; a weight without a reward model, or a named reward model weighted 0, is refused, since either
    would leave the user's reward silently different from the one asked for."""
    weights = training.rl_reward_weights
    if reward_model is None:
        if weights.get("reward_model", 0) > 0:
            raise RagtuneError(
                "training.rl_reward_weights gives reward_model a weight, but no reward model is named: "
                "add --reward-model NAME (a model trained by `ragtune train reward`)"
            )
        return training
    if weights.get("reward_model") == 0:
        raise RagtuneError(
            f"--reward-model {reward_model}: training.rl_reward_weights.reward_model is 0, so it would not count; "
            "give it a weight above 0"
        )
    return training.model_copy(update={"rl_reward_weights": {"reward_model": 1.0, **weights}})
