"""One chat request's work, with no HTTP in it. `ChatService.plan` runs the stages before generation: the
route (A/B variant, model, style), sampling and the token budget, the input rails and a request for a person,
a conversational turn's preset reply, retrieval with the question completed from the conversation and the
relevance gate, the prompt (core.prompt, the contract training uses). Then generation under the output rails,
the OpenAI response, and the conversation log (off the request path). The routes, the serving benchmark and
any other caller use this same code."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, replace

from core.errors import NotFoundError, RagtuneError
from core.language import DECLINE
from core.prompt import DEFAULT_SYSTEM_PROMPT, Prompt, build_prompt
from core.settings import DecodingSettings, ServerSettings
from feedback import ChatRecord
from rails import Rails
from rails.groundedness import AnswerCheck, final_answer
from rails.grounding import GroundingGate
from rails.stream import StreamFilter
from retrieval.excerpts import fit_sources, token_counter
from retrieval.query import ResolvedQuery, resolve_query
from retrieval.types import Hit
from server import rag, shaping
from server.curated import CuratedAnswers
from server.engines import Delta, SamplingParams
from server.metrics import Metrics, Recorder
from server.protocol import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    ChunkDelta,
    Citation,
    Variant,
    completion_id,
    now,
)
from server.runtime import Runtime
from server.trust import (
    Decisions,
    Screened,
    ToolCallScreen,
    check_answer,
    gate,
    guarded,
    output_decisions,
    screen_conversation,
)


@dataclass
class ChatPlan:
    """Everything decided before generation."""

    id: str
    request: ChatCompletionRequest
    adapter: str | None
    prompt: Prompt | None  # None: answered without generating
    params: SamplingParams
    citations: list[Citation]
    answer: str | None  # the answer instead of generating (conversational reply, fallback, hand-off, block)
    tool_names: list[str] | None  # the answer is JSON for these tools' calls (a forced tool choice)
    decisions: Decisions
    variant: Variant | None
    collection: str | None  # searched (None: RAG off)
    started: float
    curated: bool = False  # the answer is a curated answer: it goes through the output rails
    route: "Route | None" = None  # the system prompt and style tag the prompt was built with
    client: str | None = None  # the client key's name (server.client_keys), logged with the response
    on_usage: Callable[[int], None] | None = None  # given the total tokens when it ends (the key's rate)


@dataclass(frozen=True)
class Route:
    """Who answers: the A/B variant, the adapter, its system prompt and style tag, and whether RAG is on."""

    variant: Variant | None
    adapter: str | None
    system_prompt: str
    style_tag: str | None
    rag_on: bool


@dataclass
class Retrieved:
    """What the knowledge base gave: the hits the prompt gets (None: not searched), or the fallback."""

    hits: list[Hit] | None = None
    fallback: str | None = None


class ChatService:
    def __init__(self, runtime: Runtime, metrics: Metrics, rails: Rails, feedback=None, handoff_webhook=None):
        self.rt, self.metrics, self.rails, self.feedback = runtime, metrics, rails, feedback
        self.handoff_webhook = handoff_webhook  # server/handoff_webhook.py; None: hand-offs are not posted
        grounding = rails.settings.grounding
        self.gate = GroundingGate(grounding, idf=runtime.kb.idf)
        self.count_tokens = token_counter(runtime.engine.tokenizer)
        self.answer_check = (
            AnswerCheck(runtime.kb.embedder, grounding, runtime.kb.stored_vectors)
            if grounding.answer_check != "off"
            else None
        )
        self.curated = CuratedAnswers(runtime, metrics)
        self.answers = self.curated.store  # the admin routes edit it

    async def plan(self, request: ChatCompletionRequest) -> ChatPlan:
        """The stages before generation, in order; each may settle the answer without generating."""
        started = time.perf_counter()
        self.rails.reload_if_changed()
        route = await self._route(request)
        params, tool_names = self._sampling(request)
        budget = self._prompt_budget(params)
        conversation, screened = self._screen(request)
        # A preset or curated text cannot stand where the answer must be JSON (forced tool calls, a format).
        free_text = not tool_names and not (
            request.response_format and request.response_format.type != "text"
        )
        answer = screened.answer or (self._conversational_reply(screened) if free_text else None)
        curated, retrieved = None, Retrieved()
        if route.rag_on and answer is None:
            query = self._resolve(conversation)
            curated = await self.curated.find(request, query, screened.decisions) if free_text else None
            answer = curated.answer if curated else None
            if answer is None:
                retrieved = await self._retrieve(request, query, screened.decisions)
                answer = retrieved.fallback
        prompt, citations = None, curated.citations if curated else []
        if answer is None:
            prompt = await self._prompt(request, conversation, route, retrieved.hits, budget, tool_names)
            citations = rag.citations(retrieved.hits[: len(prompt.sources)]) if retrieved.hits else []
        collection = (
            (request.rag.collection or self.rt.settings.knowledge.default_collection)
            if route.rag_on
            else None
        )
        return ChatPlan(
            id=completion_id(),
            request=request,
            adapter=route.adapter,
            prompt=prompt,
            params=params,
            citations=citations,
            answer=answer,
            tool_names=tool_names if answer is None else None,  # a fixed answer is text
            decisions=screened.decisions,
            variant=route.variant,
            collection=collection,
            started=started,
            curated=curated is not None,
            route=route,
        )

    async def _route(self, request: ChatCompletionRequest) -> Route:
        """The A/B variant (sticky per user), then the model and style it implies."""
        assigned = await self.feedback.assign_async(request.model, request.user) if self.feedback else None
        variant = Variant(experiment=assigned.experiment, variant=assigned.variant.name) if assigned else None
        adapter, system_prompt, style_tag = self._model_and_style(request, assigned)
        return Route(
            variant=variant,
            adapter=adapter,
            system_prompt=(assigned and assigned.variant.system_prompt) or system_prompt,
            style_tag=style_tag,
            rag_on=request.rag.enabled and (assigned.variant.rag if assigned else True),
        )

    def _screen(self, request: ChatCompletionRequest) -> tuple[list[dict], Screened]:
        """The input rules on every user turn and the client's system message, a request for a person in the
        last user turn; the conversation masked where a rule masks."""
        screened = screen_conversation(self.rails, request.conversation(), self.metrics)
        return screened.conversation, screened

    def _conversational_reply(self, screened: Screened) -> str | None:
        """A greeting, thanks, goodbye, "who are you" or vague opener gets its preset reply
        (rails/dialogue.py)."""
        turn = self.rails.dialogue(screened.question)
        if turn is None:
            return None
        decisions = screened.decisions
        decisions.dialogue = {"act": turn.act, "acts": list(turn.acts)}
        self.metrics.dialogue.labels(turn.act).inc()
        return self.rails.texts.get(turn.act, decisions.language)

    def _resolve(self, conversation: list[dict]) -> ResolvedQuery:
        """The last question completed from the conversation (retrieval/query.py): what curated answers are
        matched against and the knowledge base is searched with. A question answered with the fallback, or
        small talk, carries no topic to a follow-up."""
        declines = {*DECLINE.values(), *self.rails.texts.by_language("fallback").values()}

        def small_talk(text: str) -> bool:
            return self.rails.dialogue(text) is not None

        return resolve_query(conversation, self.rt.settings.retrieval, declines, small_talk)

    async def _retrieve(self, request: ChatCompletionRequest, query: ResolvedQuery, decisions) -> Retrieved:
        """The knowledge base searched with the completed question, the relevance gate on it, and the hits cut
        to the excerpts the prompt gets, as training cut them."""
        settings = self.rt.settings.retrieval
        hits = await rag.retrieve(self.rt.kb, query.text, request.rag, self.metrics)
        fallback = gate(self.rails, self.gate, query, hits, decisions, self.metrics)
        if fallback is not None:
            return Retrieved(fallback=fallback)
        fitted = await asyncio.to_thread(
            fit_sources, query.text, hits, settings, self.count_tokens, self.rt.kb.idf
        )
        return Retrieved(hits=fitted)

    def _prompt_budget(self, params: SamplingParams) -> int:
        """Prompt tokens left in the model's context once the answer's max_tokens are kept free; what the
        engine cannot do is refused by name."""
        missing = params.features() - self.rt.engine.supports
        if missing:
            raise RagtuneError(
                f"{', '.join(sorted(missing))}: not supported by the {self.rt.engine.name} engine",
                param=min(missing).split("/")[0],
            )
        budget = self.rt.settings.engine.max_model_len - params.max_tokens
        if budget <= 0:
            raise RagtuneError(
                f"max_tokens {params.max_tokens} leaves no room for the prompt in the model's context "
                f"of {self.rt.settings.engine.max_model_len} tokens",
                param="max_tokens",
            )
        return budget

    async def _prompt(
        self,
        request: ChatCompletionRequest,
        conversation: list[dict],
        route: Route,
        hits: list[Hit] | None,
        budget: int,
        tool_names: list[str] | None,
    ) -> Prompt:
        """The prompt training encodes with too (core.prompt), tokenized off the event loop."""
        return await asyncio.to_thread(
            build_prompt,
            conversation,
            rag.to_sources(hits) if hits is not None else None,
            tokenizer=self.rt.engine.tokenizer,
            system_prompt=route.system_prompt,
            style=route.style_tag,
            max_prompt_tokens=budget,
            tools=[tool.model_dump() for tool in request.tools] if tool_names else None,
        )

    def _model_and_style(
        self, request: ChatCompletionRequest, assigned
    ) -> tuple[str | None, str, str | None]:
        """(adapter, system prompt, style tag). An experiment's variant names the adapter. A style is, in
        this order: configured in settings (its adapter and system prompt), a style tag the adapter was
        trained with, or the adapter trained for that style alone. An adapter is served with the system
        prompt it was trained with unless settings name one."""
        settings, rt = self.rt.settings, self.rt
        adapter = assigned.variant.adapter if assigned else rt.resolve_model(request.model)
        style, tag, style_prompt = request.style, None, None
        if style is not None:
            configured = settings.server.styles.get(style)
            trained_tags = rt.adapters[adapter].styles if adapter else []
            if configured is not None:
                style_prompt = configured.system_prompt
                if adapter is None and configured.adapter:
                    adapter = rt.resolve_model(configured.adapter)
            elif style in trained_tags:
                tag = style
            elif adapter is None and rt.style_adapter(style):
                adapter = rt.style_adapter(style)
            else:
                known = sorted({*settings.server.styles, *trained_tags, *rt.style_adapters()})
                raise NotFoundError(
                    f"unknown style '{style}' for model '{request.model}' (known: {', '.join(known) or 'none'})",
                    param="style",
                    code="style_not_found",
                )
        trained_prompt = rt.adapters[adapter].system_prompt if adapter in rt.adapters else None
        system_prompt = (
            style_prompt or settings.server.system_prompt or trained_prompt or DEFAULT_SYSTEM_PROMPT
        )
        return adapter, system_prompt, tag

    def _sampling(self, request: ChatCompletionRequest) -> tuple[SamplingParams, list[str] | None]:
        """The request's values over the served model's decoding defaults (settings) over OpenAI's."""
        defaults = served_decoding(self.rt.settings.server, self.rt.model_id)
        given = {name: getattr(request, name) for name in defaults if getattr(request, name) is not None}
        chosen = {**defaults, **given}
        max_tokens = (
            request.max_completion_tokens or request.max_tokens or self.rt.settings.server.default_max_tokens
        )
        kind = request.response_format.type if request.response_format else "text"
        schema = request.response_format.json_schema.schema_ if kind == "json_schema" else None
        tool_names, tool_schema = shaping.forced_tool_calls(request)
        params = SamplingParams(
            max_tokens=max_tokens,
            min_tokens=min(request.min_tokens, max_tokens),
            stop=request.stop_list(),
            seed=request.seed,
            logprobs=(request.top_logprobs or 0) if request.logprobs else None,
            json_schema=tool_schema if tool_schema is not None else schema,
            json_object=kind == "json_object" and tool_schema is None,
            **chosen,
        )
        return params, tool_names

    def _choices(self, plan: ChatPlan) -> tuple[list[AsyncIterator[Delta]], list[StreamFilter]]:
        """One stream of deltas per choice, under the output rails (a forced tool call's arguments once its
        JSON is complete); n > 1 runs n generations side by side (seed + i when seeded)."""
        n = plan.request.n
        if plan.answer is not None:
            read = sum(self.count_tokens(message["content"]) for message in plan.request.conversation())
            tokenizer, max_tokens = self.rt.engine.tokenizer, plan.params.max_tokens
            if plan.curated:  # an editor's text, streamed like generated text and screened like it
                filters = [self.rails.output_filter(plan.decisions.language) for _ in range(n)]
                streams = [
                    guarded(
                        shaping.fixed_answer(plan.answer, tokenizer, max_tokens, read, pieces=True), screen
                    )
                    for screen in filters
                ]
                return streams, filters
            return [shaping.fixed_answer(plan.answer, tokenizer, max_tokens, read) for _ in range(n)], []
        streams, filters = [], []
        for index in range(n):
            params = plan.params
            if params.seed is not None and index:
                params = replace(params, seed=params.seed + index)
            stream = self.rt.engine.generate(plan.prompt.token_ids, params, plan.adapter)
            if plan.tool_names:  # the calls' arguments, once their JSON is complete
                filters.append(ToolCallScreen(self.rails.output_rules))
            else:
                filters.append(self.rails.output_filter(plan.decisions.language))
            stream = guarded(stream, filters[-1])
            streams.append(stream)
        return streams, filters

    def _extensions(self, plan: ChatPlan) -> dict:
        decisions = plan.decisions
        return {
            "grounding": decisions.grounding,
            "rails": decisions.rails(),
            "handoff": decisions.handoff,
            "variant": plan.variant,
            "dialogue": decisions.dialogue,
            "curated": decisions.curated,
        }

    async def complete(self, plan: ChatPlan) -> ChatCompletion:
        recorder = self._recorder(plan)
        streams, filters = self._choices(plan)

        async def one(stream: AsyncIterator[Delta]) -> tuple[str, Delta, list]:
            parts, logprobs, last = [], [], None
            async for _, delta in shaping.merge([stream]):
                if delta.text:
                    recorder.token()
                parts.append(delta.text)
                logprobs += delta.logprobs
                last = delta
            return "".join(parts), last, logprobs

        results = await asyncio.gather(*(one(stream) for stream in streams))
        output_decisions(filters, plan.decisions, self.metrics)
        support = await self._check(plan, results[0][0])
        if support is not None:
            mode, question = (
                self.rails.settings.grounding.answer_check,
                plan.request.conversation()[-1]["content"],
            )
            results = [
                (final_answer(t, support, mode, self.rails.texts, question), last, lp)
                for t, last, lp in results
            ]
        choices = [
            Choice(
                index=index,
                message=shaping.message(text, plan.tool_names),
                finish_reason="tool_calls" if plan.tool_names else last.finish_reason,
                logprobs=shaping.logprobs(logprobs) if plan.params.logprobs is not None else None,
            )
            for index, (text, last, logprobs) in enumerate(results)
        ]
        usage = shaping.usage([last for _, last, _ in results])
        self._finish(plan, recorder, results[0][0], usage)
        return ChatCompletion(
            id=plan.id,
            created=now(),
            model=plan.request.model,
            choices=choices,
            usage=usage,
            citations=plan.citations,
            **self._extensions(plan),
        )

    async def stream(self, plan: ChatPlan, include_usage: bool) -> AsyncIterator[ChatCompletionChunk]:
        """OpenAI's chunks: the first carries the role of each choice, the citations and what was decided
        before generating; each choice's last its finish_reason, and the very last the final decisions
        (output rails, hand-off); a final chunk with the usage when asked. Forced tool calls arrive whole at
        the end (their JSON is only parsed once complete)."""
        recorder, created, n = self._recorder(plan), now(), plan.request.n

        def chunk(choices: list[ChunkChoice], **extra) -> ChatCompletionChunk:
            return ChatCompletionChunk(
                id=plan.id, created=created, model=plan.request.model, choices=choices, **extra
            )

        first = [ChunkChoice(index=i, delta=ChunkDelta(role="assistant", content="")) for i in range(n)]
        yield chunk(first, citations=plan.citations, **self._extensions(plan))
        lasts: dict[int, Delta] = {}
        texts: dict[int, list[str]] = {i: [] for i in range(n)}
        streams, filters = self._choices(plan)
        try:
            async for index, delta in shaping.merge(streams):
                if delta.text:
                    recorder.token()
                texts[index].append(delta.text)
                lasts[index] = delta
                logprobs = shaping.logprobs(delta.logprobs) if plan.params.logprobs is not None else None
                if (delta.text and not plan.tool_names) or delta.logprobs:
                    content = None if plan.tool_names else delta.text
                    yield chunk(
                        [ChunkChoice(index=index, delta=ChunkDelta(content=content), logprobs=logprobs)]
                    )
                if delta.finish_reason is not None:
                    extra = {}
                    if len(lasts) == n and all(d.finish_reason for d in lasts.values()):
                        output_decisions(filters, plan.decisions, self.metrics)
                        notice = await self._notice(plan, "".join(texts[0]))
                        if notice:
                            texts[index].append(notice)
                            yield chunk([ChunkChoice(index=index, delta=ChunkDelta(content=notice))])
                        extra = self._extensions(plan)
                    text = "".join(texts[index])
                    yield chunk([shaping.last_chunk_choice(index, delta, text, plan.tool_names)], **extra)
        except (asyncio.CancelledError, GeneratorExit):  # the client went away: generation was aborted
            self.metrics.cancelled.labels(recorder.model).inc()
            raise
        usage = shaping.usage([lasts[i] for i in sorted(lasts)])
        self._finish(plan, recorder, "".join(texts[0]), usage)
        if include_usage:
            yield chunk([], usage=usage)

    async def _check(self, plan: ChatPlan, answer: str):
        """The answer-level support check of a generated RAG answer (None when it does not apply)."""
        if self.answer_check is None or plan.answer is not None or plan.tool_names or not plan.prompt.sources:
            return None
        sources = [source.text for source in plan.prompt.sources]
        mode = self.rails.settings.grounding.answer_check
        return await check_answer(self.answer_check, mode, answer, sources, plan.decisions, self.metrics)

    async def _notice(self, plan: ChatPlan, answer: str) -> str:
        """Streamed answers are already sent: an unsupported one gets the notice appended ("replace" and
        "notice" alike); "flag" only records it."""
        support = await self._check(plan, answer)
        if support is None or support.supported or self.rails.settings.grounding.answer_check == "flag":
            return ""
        return "\n\n" + self.rails.texts.for_text("unsupported", plan.request.conversation()[-1]["content"])

    def metric_label(self, model: str) -> str:
        """A served model, an experiment's name, or "unknown": random names cannot grow the series."""
        experiments = self.feedback.experiments.models() if self.feedback and self.feedback.enabled else []
        return model if model in experiments else self.rt.metric_label(model)

    def _recorder(self, plan: ChatPlan) -> Recorder:
        label = self.metric_label(plan.request.model)
        if plan.variant:
            self.metrics.experiment_requests.labels(plan.variant.experiment, plan.variant.variant).inc()
        return Recorder(self.metrics, label)

    def _finish(self, plan: ChatPlan, recorder: Recorder, answer: str, usage) -> None:
        """Metrics, and the conversation log's row (queued: never waits, never fails the answer)."""
        cached = usage.prompt_tokens_details.cached_tokens
        recorder.done(usage.completion_tokens, usage.prompt_tokens, cached)
        if plan.on_usage is not None:
            plan.on_usage(usage.total_tokens)
        if plan.decisions.handoff is not None and self.handoff_webhook is not None:
            self.handoff_webhook.send(plan, answer)  # queued, like the log's row
        if self.feedback is None:
            return
        self.feedback.record(chat_record(plan, answer, usage))


def chat_record(plan: ChatPlan, answer: str, usage) -> ChatRecord:
    """The conversation log's row of an answered request, with what its prompt was built from (system
    prompt, style tag, the sources as the prompt got them) so that training rebuilds it exactly (the KTO
    export, feedback/export.py)."""
    request, prompt = plan.request, None
    if plan.prompt is not None and plan.route is not None:
        sources = plan.prompt.sources
        prompt = {
            "system_prompt": plan.route.system_prompt,
            "style": plan.route.style_tag,
            "sources": None if sources is None else [asdict(source) for source in sources],
        }
    return ChatRecord(
        response_id=plan.id,
        model=request.model,
        messages=request.conversation(),
        answer=answer,
        sources=[c.model_dump() for c in plan.citations],
        adapter=plan.adapter,
        collection=plan.collection,
        experiment=plan.variant.experiment if plan.variant else None,
        variant=plan.variant.variant if plan.variant else None,
        decisions=plan.decisions.as_dict(),
        latency_s=time.perf_counter() - plan.started,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        user_id=request.user,
        client=plan.client,
        prompt=prompt,
    )


def served_decoding(settings: ServerSettings, model_id: str) -> dict[str, float]:
    """The decoding a request that names none gets: `settings.decoding` for the base model over the engine's
    defaults. Adapters and experiments share the base model's; GET /v1/models lists it, the evaluation
    report states it."""
    engine_defaults = SamplingParams()
    chosen = settings.decoding.get(model_id)
    chosen = chosen.model_dump(exclude_none=True) if chosen else {}
    return {name: chosen.get(name, getattr(engine_defaults, name)) for name in DecodingSettings.model_fields}
