"""Who may call: bearer keys (client keys open the chat and model routes, admin keys open everything), the
local-only rule when no key is configured, and the audit trail of admin changes."""

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import time

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import RagtuneError
from core.settings import ClientKey, ServerSettings
from server.errors import ApiError, respond

audit_log = logging.getLogger("ragtune.audit")
LOCAL_HOST_HEADER = re.compile(r"^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$", re.IGNORECASE)
LOCAL_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$", re.IGNORECASE)
AUDIT_FIELDS = ("folder", "collection", "version", "title", "dry_run", "allow_mass_removal", "response_id")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def _known(key: str, keys: list[str]) -> int | None:
    """The position of `key` in `keys`, or None. Compared in constant time, and with every key, so timing
    tells nothing about the keys."""
    given = key.encode("utf-8", "surrogateescape")
    found = None
    for position, candidate in enumerate(keys):
        if hmac.compare_digest(given, candidate.encode("utf-8")) and found is None:
            found = position
    return found


def _check(request: Request, admin: bool) -> None:
    """Lets the request through or raises 401/403; a client key's settings (its name and scope) go to
    `request.state.client_key` (None: an admin key, or no keys configured)."""
    server: ServerSettings = request.app.state.settings.server
    request.state.client_key = None
    if not server.client_keys and not server.admin_keys:
        return  # LocalOnly has refused other machines
    key = _bearer(request)
    if key is None:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer KEY'", code="missing_api_key")
    if _known(key, server.admin_keys) is not None:
        return
    position = _known(key, [client.key for client in server.client_keys])
    if position is None:
        raise ApiError(401, "invalid API key", code="invalid_api_key")
    if admin:
        raise ApiError(403, "this key may chat but not use the admin API", code="admin_key_required")
    request.state.client_key = server.client_keys[position]


def check_scope(key: ClientKey | None, model: str, collection: str | None) -> None:
    """403 naming the field when a scoped client key asks for a model or collection outside its scope."""
    if key is None:
        return
    if key.models and model not in key.models:
        raise ApiError(
            403,
            f"key '{key.name}' may not use model '{model}' (allowed: {', '.join(key.models)})",
            param="model",
            code="model_not_allowed",
        )
    if collection is not None and key.collections and collection not in key.collections:
        raise ApiError(
            403,
            f"key '{key.name}' may not search collection '{collection}' "
            f"(allowed: {', '.join(key.collections)})",
            param="rag.collection",
            code="collection_not_allowed",
        )


def client_key(request: Request) -> None:
    _check(request, admin=False)


def admin_key(request: Request) -> None:
    _check(request, admin=True)


def _loopback(client: tuple[str, int] | None) -> bool:
    if client is None:  # a Unix socket
        return True
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return (mapped or address).is_loopback


class LocalOnly:
    """With no key configured the server is open, so it serves this machine only, whatever interface it
    was bound to: a client on another machine gets 403, and so does a request whose Host header names another
    site (a web page that rebinds its DNS name to 127.0.0.1 would otherwise reach the API from a browser), and
    so does a browser request whose Origin is a page of another site (it could POST an upload or a chat to
    this machine's server: a "simple" cross-origin POST is sent without asking first)."""

    def __init__(self, app: ASGIApp, server: ServerSettings):
        self.app, self.open = app, not server.client_keys and not server.admin_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        why = self._refusal(scope) if self.open and scope["type"] == "http" else None
        if why is None:
            return await self.app(scope, receive, send)
        message = f"{why}; configure RAGTUNE_SERVER__CLIENT_KEYS to serve others"
        await respond(Request(scope), 403, message, code="local_only")(scope, receive, send)

    @staticmethod
    def _refusal(scope: Scope) -> str | None:
        host = Headers(scope=scope).get("host", "")
        if not _loopback(scope.get("client")):
            return "this server has no API keys configured, so it answers clients on its own machine only"
        if host and not LOCAL_HOST_HEADER.match(host):
            return f"Host '{host[:100]}' is not this machine (localhost, 127.0.0.1 or [::1])"
        origin = Headers(scope=scope).get("origin")
        if origin is not None and not LOCAL_ORIGIN.match(origin):
            return f"Origin '{origin[:100]}' is a page of another site, not of this machine"
        return None


def key_id(key: str | None) -> str:
    """Names a key in logs without revealing it: the start of its SHA-256."""
    return (
        "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:12] if key else "none"
    )


async def audited(request: Request):
    """A dependency of the admin routes: each change (not a read) leaves one record in the `ragtune.audit`
    log (RAGTUNE_HOME/audit.log, JSON lines): when, which key (its id, never the key), the route, its target
    and the resulting status. Refused attempts (bad key, bad body, missing target) are recorded too."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.url.path.startswith("/admin"):
        yield
        return
    target = {**request.path_params, **await _body_target(request)}
    try:
        yield
    except Exception as err:
        _record(request, target, _status(err))
        raise
    _record(request, target, getattr(request.scope.get("route"), "status_code", None) or 200)


def _status(err: Exception) -> int:
    if isinstance(err, ApiError | RagtuneError):
        return err.status
    if isinstance(err, HTTPException):
        return err.status_code
    return 400 if isinstance(err, RequestValidationError) else 500


async def _body_target(request: Request) -> dict:
    """What a body names: a JSON body's target fields, an upload's file name (already parsed by FastAPI)."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            return {"file": getattr(upload, "filename", None), "collection": form.get("collection")}
        body = await request.json() if await request.body() else None
    except Exception:  # noqa: BLE001 - the route reports a malformed body; the audit records what it can
        return {}
    return {k: body[k] for k in AUDIT_FIELDS if k in body} if isinstance(body, dict) else {}


def _record(request: Request, target: dict, status: int) -> None:
    route = getattr(request.scope.get("route"), "path", request.url.path)
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "key_id": key_id(_bearer(request)),
        "client": request.client.host if request.client else None,
        "method": request.method,
        "route": route,
        "target": {k: v for k, v in target.items() if v is not None},
        "status": status,
        "result": "ok" if status < 400 else "refused" if status < 500 else "failed",
    }
    audit_log.info(json.dumps(entry, ensure_ascii=False, default=str))
