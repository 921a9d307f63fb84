"""The one route table: Google's paths under every API version, our own under /_internal/."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gemfiles.errors import ApiError, NotFound, error_body
from gemfiles.protocol import batches, files, internal, uploads
from gemfiles.protocol.http import error_response, internal_error_response, json_response

# The Python SDK uses v1, the JS SDK v1beta (and a hard-coded upload/v1beta); an empty api_version in
# Python drops the segment entirely (WIRE.md 1). All route to the same handlers.
VERSIONS = ("v1", "v1beta", "v1alpha")
Handler = Callable[[Request], Awaitable[Response]]


def api(handler: Handler) -> Handler:
    """Renders ApiError in Google's envelope; anything unexpected becomes a logged 500, never a trace."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc)
        except Exception as exc:
            return internal_error_response(exc)

    return wrapped


def _prefixes() -> list[str]:
    return [f"/{v}" for v in VERSIONS] + [""]


def google_routes(extra: list[tuple[str, Handler, list[str]]] | None = None) -> list[BaseRoute]:
    """``extra``: (path under the version prefix, handler, methods) from later layers (models, interactions)."""
    table: list[tuple[str, Handler, list[str]]] = [
        ("/files", files.list_files, ["GET"]),
        ("/files:register", files.register_files, ["POST"]),
        ("/files/{name}", files.file_item, ["GET", "DELETE"]),
        *(extra or []),
    ]
    routes: list[BaseRoute] = []
    for prefix in _prefixes():
        routes.append(Route(f"/upload{prefix}/files", api(uploads.upload_endpoint), methods=["POST"]))
        # The Batch API page's curl sample downloads from /download/v1beta/files/{id}:download?alt=media.
        routes.append(Route(f"/download{prefix}/files/{{name}}", api(files.file_item), methods=["GET"]))
        for path, handler, methods in table:
            routes.append(Route(f"{prefix}{path}", api(handler), methods=methods))
    return routes


def internal_routes() -> list[BaseRoute]:
    return [
        Route("/_internal/healthz", api(internal.healthz), methods=["GET"]),
        Route("/_internal/readyz", api(internal.healthz), methods=["GET"]),
        Route("/_internal/livez", api(internal.livez), methods=["GET"]),
        Route("/_internal/clock", api(internal.clock), methods=["GET", "POST"]),
        Route("/_internal/sweep", api(internal.sweep), methods=["POST"]),
        Route("/_internal/usage", api(internal.usage), methods=["GET"]),
        Route("/_internal/batches/hold", api(batches.hold_control), methods=["POST"]),
    ]


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        body = error_body(
            405, f"Method {request.method} is not allowed on {request.url.path}.", "INVALID_ARGUMENT"
        )
        return json_response(body, 405)
    if exc.status_code == 404:
        return error_response(NotFound(f"The requested URL {request.url.path} was not found on this server."))
    return json_response(error_body(exc.status_code, str(exc.detail), "UNKNOWN"), exc.status_code)
