"""Every error leaves the server in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

import logging
import math
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from core.errors import RagtuneError

log = logging.getLogger("ragtune.server")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


_UNION_LABELS = {"str", "int", "float", "bool", "dict", "list", "none"}


class ApiError(HTTPException):
    """An HTTP error of the server's own. An HTTPException, so that one raised while the body is read (413)
    reaches the handlers as itself."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(status, message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.retry_after = retry_after  # seconds, sent as Retry-After (429, 503)


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error body, as every error of this server has it."""

    error: ErrorDetail


_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
}
# The errors a route may answer, declared in the OpenAPI schema (clients and schemathesis read them there).
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Bad request: the message and param name what and where",
        401: "Missing or invalid API key",
        403: "The key may not do this (admin route, scope), or a keyless server refuses another machine",
        404: "Not found: model, document, adapter, response",
        409: "Conflict with the current state (already exists, stopped meanwhile)",
        413: "Request body past server.max_body_mb or server.max_upload_mb",
        415: "Unsupported file type",
        500: "Internal error (details in the server log only)",
        503: "Unavailable for now: database, lock, model in training, request_timeout",
    }.items()
}
ERROR_RESPONSES[429] = {
    "model": ErrorResponse,
    "description": "Overloaded (server.max_concurrent_requests) or the key's rate reached",
    "headers": _RETRY_AFTER,
}
ERROR_RESPONSES[503]["headers"] = _RETRY_AFTER


class FiniteJSONResponse(JSONResponse):
    """The server's JSON responses: a float JSON cannot carry (NaN, infinity) in a score is sent as null and
    logged, rather than failing the whole answer with a 500."""

    def render(self, content) -> bytes:
        try:
            return super().render(content)
        except ValueError:
            log.warning("a response held a non-finite number (NaN or infinity): sent as null")
            return super().render(_finite(content))


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def respond(
    request: Request, status: int, message: str, param=None, code=None, retry_after: int | None = None
) -> JSONResponse:
    """The error response, counted in ragtune_errors (also for middleware, which builds a Request)."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:  # the label is a served model or "unknown" (set by the route), never raw input
        metrics.errors.labels(getattr(request.state, "model", "-"), str(status)).inc()
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(error_body(status, message, param, code), status_code=status, headers=headers)


def _param(loc: tuple) -> str | None:
    """The field a validation error names, as OpenAI does ("messages.0.content", "doc_id"): fields and indices,
    without where it was sent (body, path, query) or pydantic's labels for a union's members ("str")."""
    parts = []
    for index, part in enumerate(loc):
        if index == 0 and part in ("body", "path", "query", "header"):
            continue
        if not isinstance(part, int) and (part in _UNION_LABELS or not re.fullmatch(r"[A-Za-z_]\w*", part)):
            break
        parts.append(str(part))
    return ".".join(parts) or None


def _telling(errors: list[dict]) -> dict:
    """The error to report: for a union (`"stop": str | list[str]`) pydantic refuses the value once per member,
    and a member's "not a string" says less than another's "at most 4 items"."""
    return next((e for e in errors if not e.get("type", "").endswith("_type")), errors[0])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError):
        return respond(request, err.status, err.message, err.param, err.code, err.retry_after)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, err: RequestValidationError):
        first = _telling(err.errors())
        if first.get("type") == "json_invalid":
            return respond(
                request,
                400,
                f"the request body is not valid JSON: {first.get('ctx', {}).get('error', '')}",
                code="json_invalid",
            )
        param = _param(first.get("loc", ()))
        message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
        return respond(request, 400, message, param, first.get("type"))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        return respond(request, err.status_code, str(err.detail))

    @app.exception_handler(RagtuneError)
    async def user_error(request: Request, err: RagtuneError):
        return respond(request, err.status, str(err), err.param, err.code)

    @app.exception_handler(Exception)
    async def server_error(request: Request, err: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return respond(request, 500, "internal server error; the server log has the details")
