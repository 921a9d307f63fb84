"""The one route table: Google's paths, each declared once with the API version as a path segment, and our
own endpoints under /_internal/."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ClassVar

from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from gemfiles.errors import error_body
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
from gemfiles.protocol.frame import ApiRoute
from gemfiles.protocol.http import json_response, render_exception

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
    upload = ApiRoute("/upload/{version:api_version}files", api(uploads.upload_endpoint), ["POST"])
    # The Batch API page's curl sample downloads its results from /download/v1beta/files/{id}:download.
    download = ApiRoute("/download/{version:api_version}files/{name}", api(files.file_item), ["GET"])
    return [*hot, upload, *versioned(table), download]


def versioned(table: list[tuple[str, Handler, list[str]]]) -> list[BaseRoute]:
    """One route per (path, handler, methods): it answers under ``/v1/``, ``/v1beta/``, ``/v1alpha/`` and with
    no version; handlers find the version in ``request.path_params["version"]``."""
    return [
        ApiRoute("/{version:api_version}" + path.lstrip("/"), api(handler), methods)
        for path, handler, methods in table
    ]


def internal_routes() -> list[BaseRoute]:
    return [
        ApiRoute("/_internal/healthz", api(internal.healthz), ["GET"]),
        ApiRoute("/_internal/readyz", api(internal.healthz), ["GET"]),
        ApiRoute("/_internal/livez", api(internal.livez), ["GET"]),
        ApiRoute("/_internal/clock", api(internal.clock), ["GET", "POST"]),
        ApiRoute("/_internal/sweep", api(internal.sweep), ["POST"]),
        ApiRoute("/_internal/usage", api(internal.usage), ["GET"]),
        ApiRoute("/_internal/batches/hold", api(batches.hold_control), ["POST"]),
        ApiRoute("/_internal/faults", api(faults.faults), ["GET", "PUT", "POST", "DELETE"]),
        ApiRoute("/metrics", api(admin.metrics), ["GET"]),
        *admin_routes(),
        *emulator_routes(),
    ]


def emulator_routes() -> list[BaseRoute]:
    """The emulator's controls (protocol/emulator.py): 404 unless GEMFILES_EMULATOR_CONTROLS is on."""
    return [
        ApiRoute("/_internal/rules", api(emulator.rules), ["GET", "PUT", "POST"]),
        ApiRoute("/_internal/journal", api(emulator.journal), ["GET", "DELETE"]),
        ApiRoute("/_internal/reset", api(emulator.reset), ["POST"]),
    ]


def admin_routes() -> list[BaseRoute]:
    """The admin API (protocol/admin.py): 404 unless GEMFILES_ADMIN_TOKEN is set."""
    prefix = "/_internal/admin"
    return [
        ApiRoute(f"{prefix}/projects", api(admin.projects), ["GET"]),
        ApiRoute(f"{prefix}/projects/{{project}}", api(admin.project), ["GET"]),
        ApiRoute(f"{prefix}/projects/{{project}}/quota", api(admin.quota), ["PUT"]),
        ApiRoute(f"{prefix}/usage", api(admin.usage), ["GET"]),
        ApiRoute(f"{prefix}/keys", api(admin.keys), ["GET", "POST"]),
        ApiRoute(f"{prefix}/keys/{{prefix}}", api(admin.key), ["DELETE"]),
        ApiRoute(f"{prefix}/scrub", api(admin.scrub), ["POST"]),
        *console_routes(prefix),
    ]


def console_routes(prefix: str) -> list[BaseRoute]:
    """The console's page (``/console``) and the admin JSON it reads (protocol/console_api.py)."""
    file = f"{prefix}/projects/{{project}}/files/{{file}}"
    return [
        ApiRoute("/console", api(console.page), ["GET"]),
        ApiRoute("/console/{asset}", api(console.page), ["GET"]),
        ApiRoute(f"{prefix}/projects/{{project}}/files", api(console_api.project_files), ["GET"]),
        ApiRoute(f"{file}/preview", api(console_api.file_preview), ["GET"]),
        ApiRoute(f"{file}/content", api(console_api.file_content), ["GET"]),
        ApiRoute(f"{prefix}/uploads", api(console_api.uploads), ["GET"]),
        ApiRoute(f"{prefix}/batches", api(console_api.batches), ["GET"]),
        ApiRoute(f"{prefix}/requests", api(console_api.requests), ["GET"]),
        ApiRoute(f"{prefix}/traffic", api(console_api.traffic), ["GET"]),
    ]


def render_escaped(exc: Exception) -> Response:
    """What an exception that escaped every handler becomes (``observe.RequestObserver`` asks): a Starlette
    ``HTTPException`` keeps its status in Google's envelope, anything else goes to the one renderer."""
    if isinstance(exc, HTTPException):
        return json_response(error_body(exc.status_code, str(exc.detail), "UNKNOWN"), exc.status_code)
    return render_exception(exc)
