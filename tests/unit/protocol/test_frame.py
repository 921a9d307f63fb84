"""The ASGI frame: the router and the observer only, every refusal still in Google's envelope."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from gemfiles.errors import FailedPrecondition
from gemfiles.protocol.frame import Frame
from gemfiles.protocol.observe import RequestObserver
from gemfiles.protocol.routes import api, render_escaped, versioned


class FailsBeforeStart(Response):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret detail before the status line")


class FailsAfterStart(Response):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("after the status line")


async def before(request: Request) -> Response:
    return FailsBeforeStart()


async def after(request: Request) -> Response:
    return FailsAfterStart()


async def fine(request: Request) -> Response:
    return JSONResponse({"ok": True})


class RefusingMiddleware:
    """A layer that raises an API error of its own before any route runs."""

    def __init__(self, app: object) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/refused-early"):
            raise FailedPrecondition("refused before routing")
        await self.app(scope, receive, send)  # type: ignore[operator]


def assert_envelope(reply: Any, code: int, message: str, status: str) -> None:
    assert reply.status_code == code
    assert reply.json() == {"error": {"code": code, "message": message, "status": status}}


@pytest.fixture
def client() -> TestClient:
    routes = versioned(
        [("/before", before, ["GET"]), ("/after", after, ["GET"]), ("/fine", fine, ["GET", "POST"])]
    )
    observer = Middleware(RequestObserver, telemetry=None, write_line=None, render_error=render_escaped)
    return TestClient(Frame(routes=routes, middleware=[observer, Middleware(RefusingMiddleware)]))


def test_a_route_answers_through_the_frame_with_a_request_id(client: TestClient) -> None:
    reply = client.get("/v1beta/fine")
    assert reply.json() == {"ok": True}
    assert len(reply.headers["x-request-id"]) == 32


def test_an_exception_escaping_before_the_response_is_googles_logged_500(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="gemfiles.protocol"):
        reply = client.get("/v1beta/before")
    assert reply.status_code == 500
    assert reply.json() == {
        "error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}
    }
    assert "secret" not in reply.text
    assert "x-request-id" in reply.headers
    assert any(r.exc_info for r in caplog.records)


def test_an_api_error_raised_by_a_middleware_is_rendered(client: TestClient) -> None:
    assert_envelope(client.get("/v1beta/refused-early"), 400, "refused before routing", "FAILED_PRECONDITION")


def test_an_exception_after_the_response_started_is_raised_to_the_server(client: TestClient) -> None:
    with pytest.raises(RuntimeError, match="after the status line"):
        client.get("/v1beta/after")


def test_no_route_and_no_method_are_googles_404_and_405(client: TestClient) -> None:
    missing = "The requested URL /v1beta/nowhere was not found on this server."
    assert_envelope(client.get("/v1beta/nowhere"), 404, missing, "NOT_FOUND")
    wrong = "Method DELETE is not allowed on /v1/fine."
    assert_envelope(client.delete("/v1/fine"), 405, wrong, "INVALID_ARGUMENT")


def test_api_renders_what_a_handler_raises() -> None:
    async def refuse(request: Request) -> Response:
        raise FailedPrecondition("not now")

    app = Frame(routes=versioned([("/refuse", refuse, ["GET"])]))
    reply = TestClient(app).get("/v1/refuse")
    assert reply.status_code == 400 and reply.json()["error"]["message"] == "not now"
    assert api(refuse).__name__ == "refuse"
