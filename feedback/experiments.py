"""A/B experiments: a served model name answered by weighted variants (adapter or base, RAG on/off, system
prompt). A user keeps their variant: the first assignment is a hash of experiment and user id, stored in the
feedback database so every replica sees it and later weight changes move only new users. Users without an
id get a random variant per request. Experiments start, change weights and stop without a restart."""

import hashlib
import logging
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ConflictError, NotFoundError, RagtuneError, UnavailableError
from feedback.log import Assignment, ConversationLog
from feedback.privacy import pseudonym
from feedback.store import FeedbackStore

logger = logging.getLogger(__name__)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_CACHED_USERS = 100_000
_ANONYMOUS = random.Random()  # its own generator: a library seeding the global one cannot skew the split


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    adapter: str | None = None  # None: the base model
    rag: bool = True
    system_prompt: str | None = None  # None: the adapter's or the server's own
    weight: float = Field(default=1.0, gt=0)


class ExperimentSpec(BaseModel):
    """What an admin starts; the first variant is the control the others are compared with."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    model: str = Field(min_length=1, max_length=128)  # the `model` clients send
    variants: list[Variant] = Field(min_length=2)

    @model_validator(mode="after")
    def names_unique(self):
        names = [v.name for v in self.variants]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(repeated)}")
        return self


class Experiment(ExperimentSpec):
    started: float
    stopped: float | None = None

    @property
    def running(self) -> bool:
        return self.stopped is None

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)


@dataclass(frozen=True)
class Assigned:
    """The variant a request gets; the chat service applies it and logs both names in its ChatRecord."""

    experiment: str
    variant: Variant


def parse_spec(data: dict) -> ExperimentSpec:
    """An ExperimentSpec from plain data; invalid data -> RagtuneError naming the field."""
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RagtuneError(
            f"experiment {where}: {first['msg']}" if where else f"experiment: {first['msg']}"
        ) from err


def bucket(experiment: str, user_key: str) -> float:
    """A user's fixed point in [0, 1) for one experiment."""
    digest = hashlib.sha256(f"{experiment}\x00{user_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pick(variants: list[Variant], point: float) -> Variant:
    """The variant whose share of the total weight covers `point` in [0, 1)."""
    total, edge = sum(v.weight for v in variants), 0.0
    for variant in variants:
        edge += variant.weight / total
        if point < edge:
            return variant
    return variants[-1]


class Experiments:
    """Experiments in the feedback database, with a short-lived cache of the running ones per model."""

    def __init__(
        self,
        store: FeedbackStore,
        log: ConversationLog,
        *,
        refresh_s: float = 5.0,
        pseudonymise: bool = True,
        pseudonym_secret: bytes | None = None,
    ) -> None:
        self.store, self.log = store, log
        # the log's secret by default: an assignment and the user's logged rows carry the same pseudonym
        self.pseudonym_secret = pseudonym_secret or log.pseudonym_secret
        self.refresh_s, self.pseudonymise = refresh_s, pseudonymise
        self._running: dict[str, Experiment] = {}
        self._loaded = float("-inf")
        self._users: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()
        self._refreshing = False  # a background refresh is under way (models())

    # -- administration -------------------------------------------------------------------------------
    def all(self) -> list[Experiment]:
        return [
            Experiment.model_validate_json(spec).model_copy(update={"started": started, "stopped": stopped})
            for _, _, spec, started, stopped in self.store.experiments()
        ]

    def get(self, name: str) -> Experiment:
        found = next((e for e in self.all() if e.name == name), None)
        if found is None:
            raise NotFoundError(f"no experiment '{name}'; GET /admin/experiments lists them")
        return found

    def start(self, spec: ExperimentSpec | dict, known_adapters: set[str] | None = None) -> Experiment:
        """Starts an experiment. `known_adapters`: the served adapters, to refuse a variant naming another."""
        spec = spec if isinstance(spec, ExperimentSpec) else parse_spec(spec)
        if known_adapters is not None:
            for v in spec.variants:
                if v.adapter is not None and v.adapter not in known_adapters:
                    raise NotFoundError(f"variant '{v.name}': adapter '{v.adapter}' is not served")
        experiment = Experiment(**spec.model_dump(), started=time.time())
        if not self.store.insert_experiment(
            spec.name, spec.model, experiment.model_dump_json(), experiment.started
        ):
            taken = any(e.name == spec.name for e in self.all())
            raise ConflictError(
                f"an experiment named '{spec.name}' exists already (names are kept for its report)"
                if taken
                else f"model '{spec.model}' already has a running experiment; stop it first"
            )
        self._cache(experiment.model, experiment)
        return experiment

    def set_weights(self, name: str, weights: dict[str, float]) -> Experiment:
        """New weights for some or all variants of a running experiment; users keep their variant."""
        experiment = self._running_named(name)
        unknown = sorted(set(weights) - {v.name for v in experiment.variants})
        if unknown:
            raise NotFoundError(
                f"weights: experiment '{name}' has no variant {', '.join(map(repr, unknown))}", param="weights"
            )
        bad = {k: w for k, w in weights.items() if not isinstance(w, int | float) or not w > 0}
        if bad:
            raise RagtuneError(f"weights: must be greater than 0, got {bad}; stop the experiment to end it")
        variants = [
            v.model_copy(update={"weight": float(weights.get(v.name, v.weight))}) for v in experiment.variants
        ]
        experiment = experiment.model_copy(update={"variants": variants})
        if not self.store.update_experiment(name, experiment.model_dump_json()):
            raise ConflictError(f"experiment '{name}' was stopped meanwhile")
        self._cache(experiment.model, experiment)
        return experiment

    def stop(self, name: str) -> Experiment:
        experiment = self._running_named(name)
        stopped = time.time()
        if not self.store.stop_experiment(name, stopped):
            raise ConflictError(f"experiment '{name}' was stopped meanwhile")
        self._cache(experiment.model, None)
        return experiment.model_copy(update={"stopped": stopped})

    def _running_named(self, name: str) -> Experiment:
        experiment = self.get(name)
        if not experiment.running:
            raise ConflictError(f"experiment '{name}' is stopped; start a new one under another name")
        return experiment

    # -- the request path -----------------------------------------------------------------------------
    def needs_database(self, model: str, user_id: str | None) -> bool:
        """Whether assign() would read the database: experiments due for a refresh, or a user not cached."""
        if self._refresh_due():
            return True
        experiment = self._running.get(model)
        return bool(experiment and user_id) and (experiment.name, self._key(user_id)) not in self._users

    def running_for(self, model: str) -> Experiment | None:
        """The running experiment serving `model`, from a cache refreshed every `refresh_s` seconds."""
        if self._refresh_due():
            try:
                running = {e.model: e for e in self.all() if e.running}
                with self._lock:
                    self._running, self._loaded = running, time.monotonic()
            except UnavailableError:
                # tried again after refresh_s, not on every request (the store backs off too)
                self._loaded = time.monotonic()
                logger.warning("experiments: database unavailable, keeping the last known experiments")
        return self._running.get(model)

    def models(self) -> list[str]:
        """The served model names that running experiments answer (GET /v1/models, metric labels). Called on
        the event loop, so it never waits for the database: a due refresh runs in a background thread and
        the names known now are returned."""
        if self._refresh_due():
            with self._lock:
                start, self._refreshing = not self._refreshing, True
            if start:
                threading.Thread(target=self._refresh, name="ragtune-experiments", daemon=True).start()
        return sorted(self._running)

    def _refresh(self) -> None:
        try:
            self.running_for("")
        finally:
            self._refreshing = False

    def assign(self, model: str, user_id: str | None = None) -> Assigned | None:
        """The variant this request gets, or None when no experiment runs for `model`."""
        experiment = self.running_for(model)
        if experiment is None:
            return None
        if not user_id:
            return Assigned(experiment.name, pick(experiment.variants, _ANONYMOUS.random()))
        key = self._key(user_id)
        name = self._known_variant(experiment.name, key)
        variant = experiment.variant(name) if name else None
        if variant is None:
            variant = pick(experiment.variants, bucket(experiment.name, key))
            self.log.record(
                Assignment(experiment=experiment.name, user_id=key, variant=variant.name, created=time.time())
            )
            self._remember(experiment.name, key, variant.name)
        return Assigned(experiment.name, variant)

    def _known_variant(self, experiment: str, key: str) -> str | None:
        cached = self._users.get((experiment, key))
        if cached is not None:
            return cached
        try:
            stored = self.store.assignment(experiment, key)
        except UnavailableError:
            return None  # the hash gives the same variant unless weights changed since
        if stored is not None:
            self._remember(experiment, key, stored)
        return stored

    def _remember(self, experiment: str, key: str, variant: str) -> None:
        with self._lock:
            self._users[(experiment, key)] = variant
            while len(self._users) > _CACHED_USERS:
                self._users.popitem(last=False)

    def _key(self, user_id: str) -> str:
        return pseudonym(user_id, self.pseudonym_secret) if self.pseudonymise else user_id

    def _refresh_due(self) -> bool:
        return time.monotonic() - self._loaded > self.refresh_s

    def _cache(self, model: str, experiment: Experiment | None) -> None:
        """This replica sees its own change at once; the others within refresh_s."""
        with self._lock:
            running = {m: e for m, e in self._running.items() if m != model}
            self._running = running | ({model: experiment} if experiment is not None else {})
