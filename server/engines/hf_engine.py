"""transformers + PEFT: the fallback engine where vLLM cannot be installed.

Generation is serialised under one lock, and each request switches the adapter (or disables adapters)
inside that lock, so concurrent requests never see each other's adapter. Each loaded version of an adapter
has a PEFT name of its own ("v1", "v2", ...), so a reload can load the new version beside the old one. Text streams from a worker
thread through TextIteratorStreamer; closing the stream early stops the generation.
"""

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator
from contextlib import nullcontext
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from core.errors import RagtuneError
from core.hardware import choose_dtype
from core.settings import EngineSettings
from server.engines.base import Delta, Engine, InUse, SamplingParams, unloaded


class _Cancelled(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> bool:
        return self.event.is_set()


class _OpenAIPenalties(LogitsProcessor):
    """OpenAI's presence and frequency penalties on the tokens generated so far (not the prompt's)."""

    def __init__(self, prompt_len: int, presence: float, frequency: float):
        self.prompt_len, self.presence, self.frequency = prompt_len, presence, frequency

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        generated = input_ids[:, self.prompt_len :]
        if generated.shape[1] == 0:
            return scores
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)


def _first_stop(text: str, stops: list[str], start: int = 0) -> int | None:
    """Where the first stop string begins, looking from `start` on: the text before what was sent holds none
    (a tail that might begin one is held back), so each piece costs its own length, not the whole answer's."""
    found = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(found) if found else None


def _safe_end(text: str, stops: list[str]) -> int:
    """How much of `text` can be sent: not a tail that may turn out to be the start of a stop string."""
    held = max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
    return len(text) - held


class HfEngine(Engine):
    name = "transformers"
    supports = frozenset({"frequency_penalty/presence_penalty"})

    def __init__(self, model_path: str, settings: EngineSettings):
        self.dtype, self.dtype_reason = choose_dtype(settings.dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, self.dtype)).eval()
        self._lock = threading.Lock()
        self._adapters: dict[str, str] = {}  # name -> the PEFT name of its current version
        self._loaded: list[str] = []  # PEFT names in the model (current versions and retiring ones)
        self._versions = itertools.count(1)
        self._in_use = InUse()  # by PEFT name
        self._running = 0

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams, adapter: str | None
    ) -> AsyncIterator[Delta]:
        version = self._adapters.get(adapter) if adapter else None
        if adapter and version is None:
            raise unloaded(adapter)
        with self._in_use.hold(version):
            async for delta in self._generate(prompt_ids, params, version):
                yield delta

    async def _generate(self, prompt_ids: list[int], params: SamplingParams, version: str | None):
        ids = torch.tensor([prompt_ids])
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel, result = threading.Event(), {}
        worker = threading.Thread(
            target=self._generate_locked,
            args=(inputs, params, version, streamer, cancel, result),
            daemon=True,
        )
        self._running += 1
        worker.start()
        try:
            text, emitted, stopped = "", 0, False
            while (piece := await asyncio.to_thread(next, streamer, None)) is not None:
                text += piece
                cut = _first_stop(text, params.stop, emitted)
                if cut is not None:
                    text, stopped = text[:cut], True
                    cancel.set()
                end = len(text) if stopped else _safe_end(text, params.stop)
                if end > emitted:
                    yield Delta(text=text[emitted:end])
                    emitted = end
                if stopped:
                    break
            await asyncio.to_thread(worker.join)
            if len(text) > emitted:  # a held-back tail that never became a stop string
                yield Delta(text=text[emitted:])
            if "error" in result:
                raise result["error"]
            finish = "stop" if stopped else result["finish"]
            yield Delta(
                text="",
                finish_reason=finish,
                prompt_tokens=inputs["input_ids"].shape[1],
                completion_tokens=result["completion_tokens"],
            )
        finally:
            cancel.set()  # a caller that left early stops the worker at its next token
            self._running -= 1

    def _generate_locked(
        self, inputs, params: SamplingParams, version, streamer, cancel, result: dict
    ) -> None:
        sampling = (
            {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
            if params.temperature > 0
            else {"do_sample": False}
        )
        penalties = (
            [_OpenAIPenalties(inputs["input_ids"].shape[1], params.presence_penalty, params.frequency_penalty)]
            if params.presence_penalty or params.frequency_penalty
            else []
        )
        try:
            with self._lock:
                if params.seed is not None:
                    torch.manual_seed(params.seed)
                with self._adapter_context(version), torch.inference_mode():
                    output = self.model.generate(
                        **inputs,
                        max_new_tokens=params.max_tokens,
                        min_new_tokens=params.min_tokens,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Cancelled(cancel)]),
                        logits_processor=LogitsProcessorList(penalties),
                        repetition_penalty=params.repetition_penalty,
                        pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                        **sampling,
                    )
            produced = output.shape[1] - inputs["input_ids"].shape[1]
            result["completion_tokens"] = produced
            result["finish"] = "length" if produced >= params.max_tokens else "stop"
        except Exception as err:  # noqa: BLE001 - re-raised in the caller's task
            result["error"] = err
            streamer.end()

    def _adapter_context(self, version: str | None):
        if not self._loaded:
            return nullcontext()
        if version is None:
            return self.model.disable_adapter()
        self.model.set_adapter(version)
        return nullcontext()

    def describe(self) -> str:
        return f"transformers ({self.dtype}: {self.dtype_reason})"

    def adapters(self) -> list[str]:
        return list(self._adapters)

    async def load_adapter(self, name: str, path: Path) -> None:
        version = f"v{next(self._versions)}"
        await asyncio.to_thread(self._load_locked, name, version, path)
        old = self._adapters.get(name)
        self._adapters[name] = version
        if old is not None:
            self._retire(old)

    def _load_locked(self, name: str, version: str, path: Path) -> None:
        from peft import PeftModel

        with self._lock:
            try:
                if self._loaded:
                    self.model.load_adapter(str(path), adapter_name=version)
                else:
                    self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=version).eval()
            except Exception as err:  # PEFT reports a bad adapter with many exception types
                if version in getattr(self.model, "peft_config", {}):
                    self.model.delete_adapter(version)  # half-loaded: its layers were added
                raise RagtuneError(f"adapter '{name}' at {path}: cannot be loaded: {err}") from err
            self._loaded.append(version)

    async def unload_adapter(self, name: str) -> None:
        self._retire(self._adapters.pop(name))

    def _retire(self, version: str) -> None:
        self._in_use.remove_when_idle(version, lambda: asyncio.to_thread(self._unload_locked, version))

    def _unload_locked(self, version: str) -> None:
        with self._lock:
            self._loaded.remove(version)
            if self._loaded:
                self.model.delete_adapter(version)
            else:
                self.model = self.model.unload()  # back to the plain base model

    def running(self) -> int:
        return self._running
