"""Every request observed once: a request id (the client's own ``X-Request-Id`` when it is safe, else a new
one, returned in the response's header), one log line, and the request metrics.

Pure ASGI middleware (not Starlette's BaseHTTPMiddleware): bodies stream through untouched and the cost is
a few counters per request. The route is the route *template* (``/{version}files/{name}``), never the raw
path, so metrics have bounded labels and no log line carries a file name, an API key or an upload id.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gemfiles.protocol.history import RequestHistory

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:=+-]{1,128}$")
_CONVERTOR = re.compile(r":[^}]+}")
UNMATCHED = "<unmatched>"
PROJECT_KEY = "gemfiles.project"


class ServerTelemetry(Protocol):
    """What the server reports about requests, and the ``GET /metrics`` exposition."""

    def request(self, route: str, method: str, status: int, seconds: float) -> None: ...

    async def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        ...


def note_project(scope: Scope, project: str) -> None:
    """Tells the request's log line which project it was for (set once the API key is resolved)."""
    scope[PROJECT_KEY] = project


_templates: dict[int, str] = {}


def route_template(route: BaseRoute | None) -> str:
    """``/{version:api_version}files/{name}`` -> ``/{version}files/{name}``."""
    if route is None:
        return UNMATCHED
    template = _templates.get(id(route))
    if template is None:
        template = _CONVERTOR.sub("}", getattr(route, "path", UNMATCHED))
        _templates[id(route)] = template
    return template


def request_id_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if _SAFE_REQUEST_ID.match(value):
                return value.decode("ascii")
            break
    # 32 hex digits from the random module (reseeded in each forked worker): half of os.urandom's cost, a
    # sixth of uuid4().hex's. A request id names a request; it guards nothing.
    return f"{random.getrandbits(128):032x}"


class RequestObserver:
    def __init__(
        self,
        app: ASGIApp,
        telemetry: ServerTelemetry | None,
        *,
        write_line: Callable[[dict[str, Any]], None] | None,
        history: RequestHistory | None = None,
    ) -> None:
        self.app = app
        self.telemetry = telemetry
        self.write_line = write_line  # the request log (logs.request_writer), or None when it is off
        self.history = history  # the console's recent requests and traffic samples

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = request_id_of(scope)
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        counts = [0, 0, 500]  # bytes in, bytes out, status
        history = self.history
        uploads = history if history is not None and scope["path"].startswith("/upload/") else None

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                counts[0] += size
                if uploads is not None:
                    uploads.received(size)
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                counts[2] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif message["type"] == "http.response.body":
                counts[1] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            seconds = time.perf_counter() - start
            route = route_template(scope.get("route"))
            if self.telemetry is not None:
                self.telemetry.request(route, scope["method"], counts[2], seconds)
            if self.write_line is not None or history is not None:
                line = _line(scope, request_id, route, counts, seconds)
                if self.write_line is not None:
                    self.write_line(line)
                if history is not None:
                    history.answered(line, time.time())


def _line(scope: Scope, request_id: str, route: str, counts: list[int], seconds: float) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "project": scope.get(PROJECT_KEY),
        "route": route,
        "method": scope["method"],
        "status": counts[2],
        "bytes_in": counts[0],
        "bytes_out": counts[1],
        "duration_ms": round(seconds * 1000, 3),
    }
