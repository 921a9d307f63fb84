"""The outermost middleware, and the application's only one: every request observed once, with a request id
(the client's own ``X-Request-Id`` when it is safe, else a new one, returned in the response's header), one
log line, and the request metrics. It also keeps this request's way to close its connection (``drops``)
and renders what escaped every handler before a response started (``frame``).

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

from gemfiles.protocol.drops import DROP_KEY, closer_of
from gemfiles.protocol.history import RequestHistory

# An exception that escaped the application, as the ASGI app answering it (None: re-raise it).
ErrorRenderer = Callable[[Exception], ASGIApp]

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


class LineWriter(Protocol):
    """The request log (``logs.RequestLog``): ``more_coming`` while other requests are being answered."""

    def __call__(self, fields: dict[str, Any], *, more_coming: bool = False) -> None: ...


class RequestObserver:
    def __init__(
        self,
        app: ASGIApp,
        telemetry: ServerTelemetry | None,
        *,
        write_line: LineWriter | None,
        history: RequestHistory | None = None,
        render_error: ErrorRenderer | None = None,
    ) -> None:
        self.app = app
        self.render_error = render_error
        self.telemetry = telemetry
        self.write_line = write_line  # the request log (logs.RequestLog), or None when it is off
        self.in_flight = 0
        self.history = history  # the console's recent requests and traffic samples

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        scope[DROP_KEY] = closer_of(receive)  # the server's own receive: nothing is around this layer
        request_id = request_id_of(scope)
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        counts = [0, 0, 500, 0]  # bytes in, bytes out, status, whether the response started
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
                counts[2], counts[3] = message["status"], 1
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif message["type"] == "http.response.body":
                counts[1] += len(message.get("body", b""))
            await send(message)

        self.in_flight += 1
        try:
            await self.app(scope, receiving, sending)
        except Exception as exc:
            if self.render_error is None or counts[3]:
                raise  # the response started (or no renderer): the server closes the connection
            await self.render_error(exc)(scope, receiving, sending)
        finally:
            self.in_flight -= 1
            seconds = time.perf_counter() - start
            route = route_template(scope.get("route"))
            if self.telemetry is not None:
                self.telemetry.request(route, scope["method"], counts[2], seconds)
            if self.write_line is not None or history is not None:
                line = _line(scope, request_id, route, counts, seconds)
                if self.write_line is not None:
                    self.write_line(line, more_coming=self.in_flight > 0)
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
