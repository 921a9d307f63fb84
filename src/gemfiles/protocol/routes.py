"""The one route table: Google's paths, each declared once with the API version as a path segment, and our
own endpoints under /_internal/."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gemfiles.errors import ApiError, NotFound, error_body
from gemfiles.protocol import (
    admin,
    batches,
    caches,
    console,
    console_api,
    emulator,
    faults,
    files,
    interactions,
    internal,
    models,
    uploads,
)
from gemfiles.protocol.http import error_response, json_response, render_exception

# The Python SDK uses v1; the JS SDK (3.x) defaults to v1 too and builds upload/{version}/files from it; the
# Go SDK hard-codes upload/v1beta/files; an empty api_version in Python drops the segment entirely (WIRE.md 1).
# All route to the same handlers.
VERSIONS = ("v1", "v1beta", "v1alpha")
Handler = Callable[[Request], Awaitable[Response]]


class ApiVersion(Convertor[str]):
    """``v1/``, ``v1beta/``, ``v1alpha/`` or nothing, as ``v1``, ``v1beta``, ``v1alpha`` or ``""``. Any other
    segment matches no route, so it gets Google's 404 envelope."""

    regex: ClassVar[str] = "(?:" + "|".join(VERSIONS) + ")/|"

    def convert(self, value: str) -> str:
        return value.rstrip("/")

    def to_string(self, value: str) -> str:
        if value and value not in VERSIONS:
            raise ValueError(f"unknown API version {value!r}")
        return f"{value}/" if value else ""


register_url_convertor("api_version", ApiVersion())


def api(handler: Handler) -> Handler:
    """Renders what a handler raises: ApiError in Google's envelope; anything unexpected becomes a logged
    500, never a trace (``http.render_exception``)."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return render_exception(exc)

    return wrapped


def google_routes() -> list[BaseRoute]:
    """Google's paths, each declared once here."""
    # Routes are tried in order and match disjoint paths: the hottest first (files.get, the uploads,
    # files.list), each failed match costing about a microsecond.
    hot = versioned([("/files/{name}", files.file_item, ["GET", "DELETE"])])
    table: list[tuple[str, Handler, list[str]]] = [
        ("/files", files.list_files, ["GET"]),
        ("/files:register", files.register_files, ["POST"]),
        *models.routes(),
        *interactions.routes(),
        *batches.routes(),
        *caches.routes(),
    ]
    upload = Route("/upload/{version:api_version}files", api(uploads.upload_endpoint), methods=["POST"])
    # The Batch API page's curl sample downloads its results from /download/v1beta/files/{id}:download.
    download = Route("/download/{version:api_version}files/{name}", api(files.file_item), methods=["GET"])
    return [*hot, upload, *versioned(table), download]


def versioned(table: list[tuple[str, Handler, list[str]]]) -> list[BaseRoute]:
    """One route per (path, handler, methods): it answers under ``/v1/``, ``/v1beta/``, ``/v1alpha/`` and with
    no version; handlers find the version in ``request.path_params["version"]``."""
    return [
        Route("/{version:api_version}" + path.lstrip("/"), api(handler), methods=methods)
        for path, handler, methods in table
    ]


def internal_routes() -> list[BaseRoute]:
    return [
        Route("/_internal/healthz", api(internal.healthz), methods=["GET"]),
        Route("/_internal/readyz", api(internal.healthz), methods=["GET"]),
        Route("/_internal/livez", api(internal.livez), methods=["GET"]),
        Route("/_internal/clock", api(internal.clock), methods=["GET", "POST"]),
        Route("/_internal/sweep", api(internal.sweep), methods=["POST"]),
        Route("/_internal/usage", api(internal.usage), methods=["GET"]),
        Route("/_internal/batches/hold", api(batches.hold_control), methods=["POST"]),
        Route("/_internal/faults", api(faults.faults), methods=["GET", "PUT", "POST", "DELETE"]),
        Route("/metrics", api(admin.metrics), methods=["GET"]),
        *admin_routes(),
        *emulator_routes(),
    ]


def emulator_routes() -> list[BaseRoute]:
    """The emulator's controls (protocol/emulator.py): 404 unless GEMFILES_EMULATOR_CONTROLS is on."""
    return [
        Route("/_internal/rules", api(emulator.rules), methods=["GET", "PUT", "POST"]),
        Route("/_internal/journal", api(emulator.journal), methods=["GET", "DELETE"]),
        Route("/_internal/reset", api(emulator.reset), methods=["POST"]),
    ]


def admin_routes() -> list[BaseRoute]:
    """The admin API (protocol/admin.py): 404 unless GEMFILES_ADMIN_TOKEN is set."""
    prefix = "/_internal/admin"
    return [
        Route(f"{prefix}/projects", api(admin.projects), methods=["GET"]),
        Route(f"{prefix}/projects/{{project}}", api(admin.project), methods=["GET"]),
        Route(f"{prefix}/projects/{{project}}/quota", api(admin.quota), methods=["PUT"]),
        Route(f"{prefix}/usage", api(admin.usage), methods=["GET"]),
        Route(f"{prefix}/keys", api(admin.keys), methods=["GET", "POST"]),
        Route(f"{prefix}/keys/{{prefix}}", api(admin.key), methods=["DELETE"]),
        Route(f"{prefix}/scrub", api(admin.scrub), methods=["POST"]),
        *console_routes(prefix),
    ]


def console_routes(prefix: str) -> list[BaseRoute]:
    """The console's page (``/console``) and the admin JSON it reads (protocol/console_api.py)."""
    file = f"{prefix}/projects/{{project}}/files/{{file}}"
    return [
        Route("/console", api(console.page), methods=["GET"]),
        Route("/console/{asset}", api(console.page), methods=["GET"]),
        Route(f"{prefix}/projects/{{project}}/files", api(console_api.project_files), methods=["GET"]),
        Route(f"{file}/preview", api(console_api.file_preview), methods=["GET"]),
        Route(f"{file}/content", api(console_api.file_content), methods=["GET"]),
        Route(f"{prefix}/uploads", api(console_api.uploads), methods=["GET"]),
        Route(f"{prefix}/batches", api(console_api.batches), methods=["GET"]),
        Route(f"{prefix}/requests", api(console_api.requests), methods=["GET"]),
        Route(f"{prefix}/traffic", api(console_api.traffic), methods=["GET"]),
    ]


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (wrong method), in Google's envelope."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        body = error_body(
            405, f"Method {request.method} is not allowed on {request.url.path}.", "INVALID_ARGUMENT"
        )
        return json_response(body, 405)
    if exc.status_code == 404:
        return error_response(NotFound(f"The requested URL {request.url.path} was not found on this server."))
    return json_response(error_body(exc.status_code, str(exc.detail), "UNKNOWN"), exc.status_code)


async def api_error(request: Request, exc: Exception) -> Response:
    """An ApiError raised outside a route's handler (a middleware, say): the same renderer."""
    return render_exception(exc)


def exception_handlers() -> Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    return {HTTPException: http_exception, ApiError: api_error}
