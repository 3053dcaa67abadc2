"""What one server process holds: the engine, the knowledge base and the served adapters (the ones every
replica sharing RAGTUNE_HOME serves: server/shared_adapters.py)."""

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.adapters import AdapterInfo, check_adapter_base, read_adapter_info
from core.chat_model import model_fingerprint, prepare_chat_model
from core.errors import NotFoundError, RagtuneError, UnavailableError
from core.settings import Settings
from server.engines import Engine, create_engine
from server.shared_adapters import SharedAdapters

logger = logging.getLogger(__name__)
ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RELOAD_RETRY_S = 30.0  # a reload another replica asked for that failed here is tried again this often


def base_model_id(chat_model: str) -> str:
    """The id clients send as `model` for the base model: the model's folder or hub name."""
    return Path(chat_model).name if Path(chat_model).exists() else chat_model.rsplit("/", 1)[-1]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    kb: object  # knowledge.KnowledgeBase
    model_path: str
    model_id: str
    base_fingerprint: str  # what each adapter's metadata must name as its base
    adapters: dict[str, AdapterInfo] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # adapter folder -> why it is not served
    # adapter -> why the version another replica loaded fails here (the version before it serves meanwhile)
    reload_failed: dict[str, str] = field(default_factory=dict)
    reload_retry_at: float = 0.0  # time.monotonic() when a failed reload is next tried
    # adapter folder a request named that failed to load (why: in `refused`) -> its files' sizes and times then
    unservable: dict[str, tuple] = field(default_factory=dict)
    training: dict[str, str] = field(default_factory=dict)  # adapter in training -> its latest progress
    changing: asyncio.Lock = field(default_factory=asyncio.Lock)  # one adapter load or unload at a time
    # adapter -> the number of the shared change (another replica's load or unload) this one applied
    followed: dict[str, int] = field(default_factory=dict)
    followed_stamp: tuple | None = None  # the shared record as last read
    shared: SharedAdapters = field(init=False)  # the loads and unloads of every replica

    def __post_init__(self) -> None:
        self.shared = SharedAdapters(
            self.settings.adapters_dir,
            self.settings.knowledge.lock_timeout_s,
            self.settings.feedback.database_url,
        )

    @classmethod
    def start(cls, settings: Settings) -> "Runtime":
        from knowledge import KnowledgeBase

        model_path = prepare_chat_model(settings.chat_model, settings.models_dir)
        kb = KnowledgeBase.open(
            settings.kb_dir, settings.knowledge, settings.retrieval, lock_url=settings.feedback.database_url
        )
        kb.search("warm-up", k=1)  # loads the embedder at start, so the first request is not slow
        engine = create_engine(model_path, settings.engine)
        return cls(
            settings=settings,
            engine=engine,
            kb=kb,
            model_path=model_path,
            model_id=base_model_id(settings.chat_model),
            base_fingerprint=model_fingerprint(model_path),
        )

    def resolve_model(self, model: str) -> str | None:
        """The adapter a `model` field names (None: the base model); unknown -> 404."""
        if model in (self.model_id, self.settings.chat_model):
            return None
        if model in self.adapters:
            return model
        if model in self.training:
            raise UnavailableError(
                f"The model '{model}' is being trained in the background ({self.training[model]}); "
                "GET /v1/models lists it once it is ready",
                param="model",
                code="model_in_training",
            )
        raise NotFoundError(
            f"The model '{model}' does not exist; GET /v1/models lists the served models",
            param="model",
            code="model_not_found",
        )

    def metric_label(self, model: str) -> str:
        """Metrics are labelled by served models only, so random names cannot grow the series."""
        return model if model in (self.model_id, self.settings.chat_model, *self.adapters) else "unknown"

    def style_adapters(self) -> dict[str, str]:
        """style -> the adapter trained for that style alone (`train sft --per-style`)."""
        return {info.style: name for name, info in self.adapters.items() if info.style}

    def style_adapter(self, style: str) -> str | None:
        return self.style_adapters().get(style)

    def adapter_folder(self, name: str) -> Path:
        """File names from clients are never used as paths: only a plain name inside adapters_dir."""
        if not ADAPTER_NAME.match(name):
            raise RagtuneError(f"adapter name '{name}': use letters, digits, '.', '_' or '-' (at most 64)")
        return self.settings.adapters_dir / name

    def check_adapter(self, name: str, folder: Path) -> AdapterInfo:
        """Everything that can be checked before the engine loads it: a bad adapter is refused here."""
        if name == self.model_id:
            raise RagtuneError(f"adapter '{name}': the name is the base model's id")
        info = read_adapter_info(folder)
        if info.method == "reward":
            raise RagtuneError(
                f"adapter '{name}': a reward model (ragtune train reward) scores answers, it does not chat"
            )
        check_adapter_base(info, self.base_fingerprint, self.model_id)
        config = folder / "adapter_config.json"
        try:
            rank = json.loads(config.read_text(encoding="utf-8")).get("r", 0)
        except (OSError, ValueError, AttributeError) as err:
            raise RagtuneError(
                f"adapter '{name}': {config.name} is not a PEFT config (a JSON object): {err}"
            ) from err
        if not isinstance(rank, int) or rank > self.settings.engine.max_lora_rank:
            raise RagtuneError(
                f"adapter '{name}': rank {rank!r} is not a whole number up to engine.max_lora_rank "
                f"{self.settings.engine.max_lora_rank}"
            )
        return info

    async def load_adapter(self, name: str) -> AdapterInfo:
        """Load (or reload) an adapter, here and then on every replica; a reload that fails leaves the
        version already loaded serving."""
        async with self.changing:
            return await self._load_and_record(name)

    async def _load_and_record(self, name: str) -> AdapterInfo:
        was_served = name in self.adapters
        info = await self._load(name)
        try:
            self.followed[name] = await asyncio.to_thread(self.shared.record, name, True)
        except RagtuneError:
            if not was_served:  # not on the other replicas, so not here either
                await self._unload(name)
            raise
        return info

    async def _load(self, name: str) -> AdapterInfo:
        folder = self.adapter_folder(name)
        info = await asyncio.to_thread(self.check_adapter, name, folder)
        await self.engine.load_adapter(name, folder)
        self.adapters[name] = info
        self.refused.pop(name, None)
        self.unservable.pop(name, None)
        self.reload_failed.pop(name, None)
        return info

    async def load_all_adapters(self) -> None:
        """Adapters under RAGTUNE_HOME/adapters at start, but those a replica unloaded since; one that fails
        is reported, not fatal."""
        folders = self.settings.adapters_dir
        async with self.changing:
            self.followed_stamp = self.shared.stamp()
            shared = self._read_shared()
            self.followed = {name: entry.change for name, entry in shared.items()}
            unloaded = {name for name, entry in shared.items() if not entry.loaded}
            for folder in sorted(folders.iterdir()) if folders.exists() else []:
                # not a training run's temp folder, nor one a replica unloaded
                if folder.is_dir() and not folder.name.startswith(".") and folder.name not in unloaded:
                    await self._load_or_refuse(folder.name)

    async def unload_adapter(self, name: str) -> None:
        """New requests for it get 404 at once, here and then on every replica; the engine removes it when
        its last request has ended."""
        await self.follow_shared()  # it may be one another replica loaded
        async with self.changing:
            if name not in self.adapters:
                raise NotFoundError(f"adapter '{name}' is not loaded", param="name", code="adapter_not_found")
            info = self.adapters.pop(name)  # recorded before the engine waits for its requests to end
            try:
                self.followed[name] = await asyncio.to_thread(self.shared.record, name, False)
            except RagtuneError:
                self.adapters[name] = info
                raise
            await self.engine.unload_adapter(name)

    async def _unload(self, name: str) -> None:
        self.adapters.pop(name)
        self.reload_failed.pop(name, None)
        await self.engine.unload_adapter(name)

    async def _load_or_refuse(self, name: str) -> None:
        try:
            await self._load(name)
        except RagtuneError as err:
            self.refused[name] = str(err)

    async def follow_shared(self, model: str | None = None) -> None:
        """Loads and unloads what other replicas loaded and unloaded since this one last looked; one stat
        when nothing changed. An adapter this replica cannot load is listed as refused, as at start; a new
        version of one it serves that fails here leaves the version before serving and is tried again.
        `model`, the name a request asks for, may be an adapter folder not loaded yet (`_load_on_demand`)."""
        if self.shared.stamp() != self.followed_stamp or self._reload_due():
            async with self.changing:
                await self._follow()
        if model is not None:
            await self._load_on_demand(model)

    def _reload_due(self) -> bool:
        return bool(self.reload_failed) and time.monotonic() >= self.reload_retry_at

    async def _follow(self) -> None:
        stamp = self.shared.stamp()
        if stamp == self.followed_stamp and not self._reload_due():
            return  # another request followed it while this one waited
        self.followed_stamp = stamp
        shared = await asyncio.to_thread(self._read_shared)
        for name, entry in shared.items():
            if self.followed.get(name) == entry.change:
                continue
            if entry.loaded and name in self.adapters:
                try:
                    await self._load(name)
                except RagtuneError as err:  # not followed: tried again on a later follow
                    self.reload_failed[name] = str(err)
                    self.reload_retry_at = time.monotonic() + RELOAD_RETRY_S
                    logger.error(
                        "adapter '%s': its version before serves here; another replica reloaded it, "
                        "and the new version fails: %s",
                        name,
                        err,
                    )
                    continue
            elif entry.loaded:
                await self._load_or_refuse(name)
            elif name in self.adapters:
                await self._unload(name)
            self.followed[name] = entry.change
            done = "loaded" if name in self.adapters else "not served"
            logger.info(
                "adapter '%s' %s: another replica %s it", name, done, "loaded" if entry.loaded else "unloaded"
            )

    async def _load_on_demand(self, model: str) -> None:
        """A request naming a folder copied into adapters_dir by hand (`ragtune train` elsewhere) loads it,
        as an admin load would, on every replica; as vLLM's LoRA resolvers do. A name that cannot be an
        adapter's never reaches the file system, and a folder an admin unloaded stays unloaded."""
        if model in self.adapters or model in self.training or not ADAPTER_NAME.match(model):
            return
        folder = self.settings.adapters_dir / model
        if model == self.model_id or not folder.is_dir():
            return
        files = await asyncio.to_thread(_files_signature, folder)
        if self.unservable.get(model) == files and model in self.refused:  # tried again once it changes
            raise _invalid_adapter(model, folder, self.refused[model])
        async with self.changing:
            if model in self.adapters:
                return  # another request loaded it while this one waited
            entry = (await asyncio.to_thread(self._read_shared)).get(model)
            if entry is not None and not entry.loaded:
                return
            try:
                await self._load_and_record(model)
            except RagtuneError as err:
                self.unservable[model], self.refused[model] = files, str(err)
                raise _invalid_adapter(model, folder, str(err)) from err

    def _read_shared(self) -> dict:
        try:
            return self.shared.read()
        except RagtuneError as err:  # edited by hand: what is served stays as it is
            logger.error("%s; this replica serves the adapters it has, and loads or unloads no other", err)
            return {}

    def summary(self) -> str:
        adapters = ", ".join(self.adapters) or "none"
        lines = [
            f"engine: {self.engine.describe()}",
            f"model: {self.model_id} ({self.model_path})",
            f"adapters: {adapters}",
            f"knowledge base: version {self.kb.version} in {self.settings.kb_dir}",
        ]
        lines += [f"adapter refused: {name}: {why}" for name, why in self.refused.items()]
        lines += [f"adapter in training: {name} ({progress})" for name, progress in self.training.items()]
        return "\n".join(lines)


def _invalid_adapter(model: str, folder: Path, why: str) -> RagtuneError:
    return RagtuneError(
        f"The model '{model}' is the adapter folder {folder}, which cannot be served: {why}",
        param="model",
        code="invalid_adapter",
    )


def _files_signature(folder: Path) -> tuple:
    """The name, size and modification time of each file in `folder`: what a fixed copy changes."""
    return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()))
