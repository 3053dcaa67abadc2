"""Training progress as plain lines for a log: the step, the loss and the time left, and the last step always."""

from transformers import TrainerControl, TrainerState, TrainingArguments

from training.progress import PROGRESS_PREFIX, ProgressLines


def test_progress_lines_say_the_step_the_loss_and_the_time_left(tmp_path):
    said: list[str] = []
    args, control = TrainingArguments(output_dir=str(tmp_path), report_to="none"), TrainerControl()
    state = TrainerState(max_steps=4)
    lines = ProgressLines(every_s=3600, say=said.append)  # a line at the last step only
    lines.on_train_begin(args, state, control)
    for step in range(1, 5):
        state.global_step = step
        lines.on_log(args, state, control, logs={"loss": 2.0 / step})
        lines.on_step_end(args, state, control)
    assert said == ["training 4 steps", "step 4/4 (100 %), loss 0.500, less than a minute left"]
    assert said[-1].startswith(PROGRESS_PREFIX)

    said.clear()
    every = ProgressLines(every_s=0, say=said.append)
    every.on_train_begin(args, TrainerState(max_steps=3), control)
    every.on_step_end(args, TrainerState(max_steps=3, global_step=1), control)
    assert said[-1] == "step 1/3 (33 %), less than a minute left"  # no loss logged yet


def test_progress_lines_say_the_mean_reward_of_online_rl(tmp_path):
    said: list[str] = []
    args, control = TrainingArguments(output_dir=str(tmp_path), report_to="none"), TrainerControl()
    lines = ProgressLines(every_s=0, say=said.append)
    lines.on_train_begin(args, TrainerState(max_steps=2), control)
    lines.on_log(args, TrainerState(max_steps=2), control, logs={"loss": 0.0, "reward": 0.625})
    lines.on_step_end(args, TrainerState(max_steps=2, global_step=1), control)
    assert said[-1] == "step 1/2 (50 %), loss 0.000, reward 0.625, less than a minute left"
