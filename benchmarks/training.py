"""SFT speed and memory: ragtune's trainer (packed rows, assistant-only loss, the loss computed a chunk of label
tokens at a time, a row per forward pass on CPU) against a plain Hugging Face Trainer + PEFT script that pads
every sample to a fixed max length, as the usual tutorials do, and against ragtune as it was before the
chunked loss and micro-batches ("ragtune-before": whole batches through transformers' own loss).

All train the same LoRA (rank, target modules, batch size, learning rate) for one epoch on the same demo
conversations with the embedded chat model. Each runs in a fresh process so its peak RSS is its own.
tokens/s counts real (unpadded) tokens. Targets: ragtune >= 1.3x the baseline's tokens/s; ragtune's peak RSS
<= 0.5x the baseline's and ragtune-before's, at >= their tokens/s.

    .venv/bin/python benchmarks/training.py [--samples 24] [--data examples/training/conversations.jsonl]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MAX_LEN, BATCH, RANK, LR = 384, 4, 16, 2e-4


def samples(data: Path, n: int):
    from training.cleaning import clean
    from training.data import load_conversations

    return clean(load_conversations(data))[0][:n]


def run_ragtune(data: Path, n: int, home: Path, **training) -> dict:
    """ragtune's train_sft; `training` overrides its defaults (ragtune-before turns the new parts off)."""
    from core.settings import Settings
    from training.output import TrainingFolders
    from training.sft import train_sft

    settings = Settings(home=home, chat_model=os.environ.get("BENCH_MODEL", "SmolLM2-135M-Instruct"))
    settings = settings.model_copy(
        update={
            "training": settings.training.model_copy(
                update={
                    "epochs": 1.0,
                    "max_seq_len": MAX_LEN,
                    "batch_size": BATCH,
                    "lora_r": RANK,
                    "learning_rate": LR,
                    "logging_steps": 1000,
                    **training,
                }
            )
        }
    )
    folders = TrainingFolders(
        models=settings.models_dir, adapters=settings.adapters_dir, checkpoints=settings.home / "checkpoints"
    )
    result = train_sft(
        samples(data, n),
        [],
        training=settings.training,
        folders=folders,
        name="bench",
        base_model=settings.chat_model,
        progress=False,
    )
    return {"tokens": result.tokens_per_epoch, "seconds": result.train_runtime, "steps": result.global_step}


def run_baseline(data: Path, n: int, home: Path) -> dict:
    """The tutorial recipe: chat template, pad to MAX_LEN, labels = input ids, default collator."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
        default_data_collator,
    )

    from core.chat_model import prepare_chat_model
    from training.modeling import TARGET_MODULES

    model_path = prepare_chat_model(os.environ.get("BENCH_MODEL", "SmolLM2-135M-Instruct"), home / "models")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    texts = [tokenizer.apply_chat_template(s.messages, tokenize=False) for s in samples(data, n)]
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=MAX_LEN)
    labels = [
        [t if m else -100 for t, m in zip(ids, mask)]
        for ids, mask in zip(enc["input_ids"], enc["attention_mask"])
    ]
    dataset = Dataset.from_dict({**enc, "labels": labels})
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    model = get_peft_model(
        model,
        LoraConfig(
            r=RANK,
            lora_alpha=2 * RANK,
            lora_dropout=0.05,
            task_type="CAUSAL_LM",
            target_modules=TARGET_MODULES[model.config.model_type],
        ),
    )
    args = TrainingArguments(
        output_dir=str(home / "baseline"),
        per_device_train_batch_size=BATCH,
        num_train_epochs=1,
        learning_rate=LR,
        lr_scheduler_type="cosine",
        report_to="none",
        save_strategy="no",
        logging_steps=1000,
        disable_tqdm=True,
    )
    output = Trainer(
        model=model, args=args, train_dataset=dataset, data_collator=default_data_collator
    ).train()
    return {
        "tokens": int(sum(map(sum, enc["attention_mask"]))),
        "seconds": output.metrics["train_runtime"],
        "steps": output.global_step,
    }


RUNS = {
    "baseline": run_baseline,
    "ragtune-before": partial(run_ragtune, chunked_loss=False, micro_batch_size=BATCH),
    "ragtune": run_ragtune,
}


def child(which: str, data: Path, n: int, models: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "models").symlink_to(models.resolve())  # the converted model is shared, not re-converted
        figures = RUNS[which](data, n, home)
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(figures))


def measure(which: str, data: Path, n: int, models: Path) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            which,
            "--data",
            str(data),
            "--samples",
            str(n),
            "--models",
            str(models),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if out.returncode or line is None:
        sys.exit(f"{which} run failed:\n{out.stderr[-3000:]}")
    figures = json.loads(line[len("RESULT ") :])
    figures["tokens_per_s"] = figures["tokens"] / figures["seconds"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REPO / "examples/training/conversations.jsonl")
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--models", type=Path, default=REPO / ".ragtune" / "models")
    parser.add_argument("--child", choices=list(RUNS))
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.data, args.samples, args.models)
    from core.chat_model import prepare_chat_model
    from core.hardware import describe_cpu
    from core.settings import Settings

    prepare_chat_model(Settings().chat_model, args.models)
    print(
        f"SFT, {args.samples} samples of {args.data.name}, 1 epoch, batch {BATCH}, LoRA r={RANK}, "
        f"max_len {MAX_LEN}, {describe_cpu()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    results = {name: measure(name, args.data, args.samples, args.models) for name in RUNS}
    for name, r in results.items():
        print(
            f"{name:14s} {r['tokens']:7d} real tokens  {r['steps']:3d} steps  {r['seconds']:7.1f} s  "
            f"{r['tokens_per_s']:7.1f} tokens/s  peak RSS {r['peak_rss_mib']:7.0f} MiB"
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other work on the machine slows every run)")
    for other, speed_target in (("baseline", 1.3), ("ragtune-before", 1.0)):
        speed, memory = ratios(results["ragtune"], results[other])
        verdict = "met" if speed >= speed_target and memory <= 0.5 else "NOT met"
        print(
            f"ragtune vs {other}: {speed:.2f}x tokens/s, {memory:.2f}x peak RSS "
            f"(target >={speed_target}x at <=0.5x: {verdict})"
        )


def ratios(new: dict, old: dict) -> tuple[float, float]:
    """tokens/s and peak RSS of one run over another's."""
    return new["tokens_per_s"] / old["tokens_per_s"], new["peak_rss_mib"] / old["peak_rss_mib"]


if __name__ == "__main__":
    main()
