"""Bearer keys: client keys open the chat and model routes, admin keys open everything.
With no key configured the server is open, and `ragtune serve` then binds to localhost only."""

from fastapi import Request

from core.settings import ServerSettings
from server.errors import ApiError


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def _check(request: Request, admin: bool) -> None:
    server: ServerSettings = request.app.state.settings.server
    if not server.client_keys and not server.admin_keys:
        return
    key = _bearer(request)
    if key is None:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer KEY'", code="missing_api_key")
    if key in server.admin_keys:
        return
    if key not in server.client_keys:
        raise ApiError(401, "invalid API key", code="invalid_api_key")
    if admin:
        raise ApiError(403, "this key may chat but not use the admin API", code="admin_key_required")


def client_key(request: Request) -> None:
    _check(request, admin=False)


def admin_key(request: Request) -> None:
    _check(request, admin=True)
