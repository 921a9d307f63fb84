"""Responses, the error renderer, the public origin and API-key authentication."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.faults import DropConnection
from gemfiles.domain.ports import MetadataStore, StoreUnavailable
from gemfiles.domain.projects import key_hash, open_project
from gemfiles.domain.upload_machine import UploadError
from gemfiles.errors import ApiError, ApiKeyInvalid, Internal, PermissionDenied, Unavailable
from gemfiles.protocol.drops import DroppedConnection
from gemfiles.protocol.observe import note_project
from gemfiles.settings import Settings

log = logging.getLogger("gemfiles.protocol")

JSON_TYPE = "application/json; charset=UTF-8"
KEY_CACHE_SECONDS = 2.0


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type=JSON_TYPE)


def render_exception(exc: Exception) -> Response:
    """The one renderer of what a handler raises: an ApiError as Google's envelope, anything else as a
    logged 500 INTERNAL (never a trace)."""
    if isinstance(exc, DropConnection):
        return DroppedConnection(str(exc) or "a planned cut")
    if isinstance(exc, StoreUnavailable):
        return error_response(store_unavailable())
    if isinstance(exc, UploadError):
        return upload_error_response(exc)
    if isinstance(exc, ApiError):
        return error_response(exc)
    return internal_error_response(exc)


def store_unavailable() -> Unavailable:
    """The metadata store out of reach (PostgreSQL down or restarting): retryable, as Google's 503 is."""
    return Unavailable("The service is currently unavailable. Try again later.")


def upload_error_response(exc: UploadError) -> Response:
    """Every reply of the upload URL carries X-Goog-Upload-Status, errors included (WIRE.md 12.5)."""
    headers = {**exc.error.headers, "X-Goog-Upload-Status": exc.status}
    if exc.received is not None:
        headers["X-Goog-Upload-Size-Received"] = str(exc.received)
    return json_response(exc.error.body(), exc.error.code, headers)


def error_response(error: ApiError) -> Response:
    """An ApiError in Google's envelope, with the headers it carries (``ApiError.headers``)."""
    return json_response(error.body(), error.code, dict(error.headers))


def internal_error(
    exc: BaseException, what: str = "unhandled error", logger: logging.Logger = log
) -> Internal:
    """What a client sees of an unexpected exception: Google's generic 500, the trace only in the log."""
    logger.error(what, exc_info=exc)
    return Internal("Internal error encountered.")


def internal_error_response(exc: BaseException, *, upload_status: str | None = None) -> Response:
    headers = {"X-Goog-Upload-Status": upload_status} if upload_status else None
    return json_response(internal_error(exc).body(), 500, headers)


def origin_of(request: Request, settings: Settings) -> str:
    """The externally reachable origin: --public-url, else X-Forwarded-Proto/Host, else Host."""
    if settings.public_url:
        return settings.public_url
    scope = request.scope
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:  # one pass; the first of each header counts
        if name in _ORIGIN_HEADERS and name not in found:
            found[name] = value
    proto = found.get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[0].strip()
    host = found.get(b"x-forwarded-host", b"").decode("latin-1").split(",")[0].strip()
    host = host or found.get(b"host", b"").decode("latin-1")
    if not host:
        server = scope.get("server") or ("127.0.0.1", settings.port)
        host = f"{server[0]}:{server[1]}"
    return f"{proto or scope.get('scheme', 'http')}://{host}"


_ORIGIN_HEADERS = frozenset((b"x-forwarded-proto", b"x-forwarded-host", b"host"))
_API_KEY_HEADER = b"x-goog-api-key"


def api_key_of(request: Request) -> str | None:
    """``x-goog-api-key`` (the first one), else the ``key`` query parameter, as Starlette's ``headers.get``
    would find it, without building the request's header and query objects for it."""
    key = None
    for name, value in request.scope["headers"]:
        if name == _API_KEY_HEADER:
            key = value.decode("latin-1")
            break
    else:
        if request.scope.get("query_string"):
            key = request.query_params.get("key")
    return key.strip() if key and key.strip() else None


class Authenticator:
    """API key -> project. ``open``: each distinct key is its own project; ``keys``: operator-made keys only."""

    def __init__(self, settings: Settings, meta: MetadataStore) -> None:
        self.mode = settings.auth
        self.meta = meta
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._open: dict[str, str] = {}  # open mode: key -> project (a SHA-256 each time otherwise)

    async def project(self, request: Request) -> str:
        key = api_key_of(request)
        if key is None:
            # Google's reply to a call with no key at all.
            raise PermissionDenied(
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API."
            )
        project = await self.project_for_key(key)
        note_project(request.scope, project)
        return project

    def forget_keys(self) -> None:
        """Drops the cached key lookups: a revocation made through this process counts at once (other
        processes and replicas see it within KEY_CACHE_SECONDS)."""
        self._cache.clear()

    async def project_for_key(self, key: str) -> str:
        if self.mode == "open":
            project = self._open.get(key)
            if project is None:
                if len(self._open) >= 10_000:
                    self._open.clear()
                project = self._open[key] = open_project(key)
            return project
        digest = key_hash(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is None or cached[0] < now:
            project = await self.meta.lookup_key(digest)
            # Revocations made elsewhere (another worker or replica, `gemfiles keys revoke` on the
            # database) take effect here within KEY_CACHE_SECONDS; see forget_keys for this process's.
            self._cache[digest] = (now + KEY_CACHE_SECONDS, project)
            if len(self._cache) > 10_000:
                self._cache.clear()
        else:
            project = cached[1]
        if project is None:
            raise ApiKeyInvalid()
        return project
