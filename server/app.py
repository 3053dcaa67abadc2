"""The FastAPI app: OpenAI-compatible API, admin API, compare page, health and metrics."""

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import ServerSettings
from feedback.rates import SharedRates
from feedback.service import FeedbackService
from rails import Rails
from server.admission import Admission
from server.auth import LocalOnly, audit_log, audited
from server.background_training import AdapterJob, start_training
from server.errors import ERROR_RESPONSES, ApiError, FiniteJSONResponse, install_error_handlers, respond
from server.handoff_webhook import start_webhook
from server.metrics import Metrics
from server.protocol import check_chat_size, check_unicode
from server.routes import admin, answers, feedback, openai, rails_admin
from server.runtime import Runtime
from server.service import ChatService

STATIC = Path(__file__).parent / "static"
UPLOAD_FORM_SLACK = 64 * 1024  # a multipart body's framing and form fields, beside the file itself


class BodyLimit:
    """413 for a request body past its limit (server.max_upload_mb for multipart uploads, server.max_body_mb
    for the rest): at once by its Content-Length, or while it arrives when it has none (chunked)."""

    def __init__(self, app: ASGIApp, server: ServerSettings):
        self.app, self.server = app, server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        upload = headers.get("content-type", "").startswith("multipart/form-data")
        setting = "max_upload_mb" if upload else "max_body_mb"
        megabytes = getattr(self.server, setting)
        limit = megabytes * 2**20 + (UPLOAD_FORM_SLACK if upload else 0)
        too_large = ApiError(
            413,
            f"the request body is larger than {megabytes} MB (server.{setting})",
            code="request_too_large",
        )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            response = respond(Request(scope), 413, too_large.message, code=too_large.code)
            return await response(scope, receive, send)
        received = 0

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large  # the body's reader (FastAPI) passes it on to the error handlers
            return message

        await self.app(scope, counted, send)


async def _json_body(request: Request) -> object:
    """The JSON body as FastAPI has parsed it (Starlette keeps it), before it is validated; None for none,
    an upload (FastAPI reads its parts from the stream itself) or one that is not JSON (the route says so)."""
    if request.method not in ("POST", "PUT") or request.headers.get("content-type", "").startswith("multipart/"):
        return None
    if not await request.body():
        return None
    try:
        return await request.json()
    except ValueError:
        return None


async def unicode_text(request: Request) -> None:
    """Every JSON body: text UTF-8 can encode."""
    check_unicode(await _json_body(request))


async def chat_size(request: Request) -> None:
    """server.max_messages and server.max_request_chars: one request cannot hold the server."""
    server: ServerSettings = request.app.state.settings.server
    check_chat_size(await _json_body(request), server.max_messages, server.max_request_chars)


def _audit_file(home: Path) -> logging.Handler:
    """The audit trail's lasting copy: RAGTUNE_HOME/audit.log, one JSON object per line."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "audit.log"
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600))  # who changed what: owner only
    path.chmod(0o600)  # also one made before by an older version
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit_log.addHandler(handler)
    audit_log.setLevel(logging.INFO)
    return handler


def create_app(settings, announce=print, jobs: tuple[AdapterJob, ...] = ()) -> FastAPI:
    """`settings` is ragtune's Settings; the engine and knowledge base open when the app starts, then `jobs`
    train their adapters in the background (the server loads each when it is ready)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        audit_file = _audit_file(settings.home)
        # Knowledge-base changes get a thread of their own (they run one at a time anyway, under the writer
        # lock): a queue of uploads must not hold the default pool's threads that chat requests search with.
        app.state.kb_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragtune-kb-writer")
        runtime = await asyncio.to_thread(Runtime.start, settings)
        await runtime.load_all_adapters()
        app.state.runtime = runtime
        app.state.metrics = Metrics(runtime.engine.running)
        app.state.metrics.engine_alive.set_function(lambda: float(runtime.engine.alive()))
        url = settings.feedback.database_url  # PostgreSQL: replicas share the client keys' rates through it
        app.state.admission = Admission(settings.server, app.state.metrics, SharedRates(url) if url else None)
        app.state.rails = Rails(settings.rails, settings.pii)
        feedback_service = FeedbackService(settings.feedback, settings.pii, settings.home)
        app.state.feedback = await asyncio.to_thread(feedback_service.start)
        app.state.metrics.watch_log(lambda: app.state.feedback.dropped)
        # Hand-offs also POSTed to a person's help desk, off the request path (None: no webhook set)
        app.state.handoff_webhook = await start_webhook(settings, app.state.metrics)
        app.state.chat = ChatService(
            runtime, app.state.metrics, app.state.rails, app.state.feedback, app.state.handoff_webhook
        )
        training = [start_training(runtime, job) for job in jobs]
        announce(runtime.summary())
        if app.state.handoff_webhook:
            announce(app.state.handoff_webhook.describe())
        try:
            yield
        finally:
            for task in training:  # stops a child still training
                task.cancel()
            await asyncio.gather(*training, return_exceptions=True)
            if app.state.handoff_webhook:
                await app.state.handoff_webhook.close()  # what is queued, within handoff.timeout_s
            await asyncio.to_thread(app.state.feedback.close)  # writes the queued log rows
            await asyncio.to_thread(app.state.kb_writer.shutdown)  # a change under way is finished
            app.state.admission.close()
            runtime.engine.shutdown()
            audit_log.removeHandler(audit_file)
            audit_file.close()

    app = FastAPI(title="ragtune", lifespan=lifespan, default_response_class=FiniteJSONResponse)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodyLimit, server=settings.server)
    app.add_middleware(LocalOnly, server=settings.server)  # the outermost: refuses before anything is read
    errors = ERROR_RESPONSES  # declared in the schema: what each route may answer besides its result
    body = Depends(unicode_text)
    app.include_router(openai.router, dependencies=[body, Depends(chat_size)], responses=errors)
    audit = Depends(audited, scope="function")  # recorded before the response leaves
    app.include_router(admin.router, dependencies=[audit, body], responses=errors)
    # audits the feedback router's admin routes' changes
    app.include_router(feedback.router, dependencies=[audit, body], responses=errors)
    app.include_router(rails_admin.router, dependencies=[audit, body], responses=errors)
    app.include_router(answers.router, dependencies=[audit, body], responses=errors)  # curated answers

    @app.get("/", include_in_schema=False)
    async def compare_page() -> FileResponse:
        return FileResponse(STATIC / "compare.html", media_type="text/html")

    @app.get("/admin", include_in_schema=False)
    async def editors_page() -> FileResponse:
        """The review queue and the curated answers; the page asks for an admin key for its calls."""
        return FileResponse(STATIC / "editors.html", media_type="text/html")

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    not_ready = {"description": "Starting, or the engine has died", "content": {"application/json": {}}}

    @app.get("/readyz", responses={503: not_ready})
    async def readyz(request: Request):
        runtime = getattr(request.app.state, "runtime", None)  # set once the engine and KB are open
        engine = runtime is not None and runtime.engine.alive()  # False: the engine's core has died
        ready = runtime is not None and engine
        body = {"ready": ready, "engine": engine, "knowledge_base": runtime is not None}
        if runtime is not None:
            body["knowledge_base_version"] = runtime.kb.version
        return JSONResponse(body, status_code=200 if ready else 503)

    prometheus_text = {200: {"content": {CONTENT_TYPE_LATEST: {}}}}

    @app.get("/metrics", response_class=Response, responses=prometheus_text)
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
