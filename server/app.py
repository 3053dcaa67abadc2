"""The FastAPI app: OpenAI-compatible API, admin API, compare page, health and metrics."""

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from feedback.service import from_settings as feedback_from_settings
from rails import Rails
from server.errors import install_error_handlers
from server.metrics import Metrics
from server.routes import admin, feedback, openai, rails_admin
from server.runtime import Runtime
from server.service import ChatService

STATIC = Path(__file__).parent / "static"


def create_app(settings, announce=print) -> FastAPI:
    """`settings` is ragtune's Settings; the engine and knowledge base open when the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = await asyncio.to_thread(Runtime.start, settings)
        await runtime.load_all_adapters()
        app.state.runtime = runtime
        app.state.metrics = Metrics(runtime.engine.running)
        app.state.rails = Rails(settings.rails)
        app.state.feedback = await asyncio.to_thread(feedback_from_settings(settings).start)
        app.state.metrics.watch_log(lambda: app.state.feedback.dropped)
        app.state.chat = ChatService(runtime, app.state.metrics, app.state.rails, app.state.feedback)
        announce(runtime.summary())
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.feedback.close)  # writes the queued log rows
            runtime.engine.shutdown()

    app = FastAPI(title="ragtune", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(openai.router)
    app.include_router(admin.router)
    app.include_router(feedback.router)
    app.include_router(rails_admin.router)

    @app.get("/", include_in_schema=False)
    async def compare_page() -> FileResponse:
        return FileResponse(STATIC / "compare.html", media_type="text/html")

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request):
        runtime = getattr(
            request.app.state, "runtime", None
        )  # set once the engine and knowledge base are open
        ready = runtime is not None
        body = {"ready": ready, "engine": ready, "knowledge_base": ready}
        if ready:
            body["knowledge_base_version"] = runtime.kb.version
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
