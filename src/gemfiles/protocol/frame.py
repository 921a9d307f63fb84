"""The ASGI frame around the route table: Starlette's router and nothing else between it and the server.

A Starlette application puts two middlewares of its own around every request: ``ServerErrorMiddleware``
(a 500 for an exception that escapes) and ``ExceptionMiddleware`` (handlers for ``HTTPException`` and
friends), and each route wraps its handler once more to look such handlers up. Each layer is a coroutine
and a wrapped ``send`` per request: together about a third of the CPU of a ``files.get``. None of it is
needed here, because every refusal already has its one renderer (``http.render_exception``):

* a handler's own exceptions are rendered by ``routes.api`` around it;
* no route for a path, or no method of a route: ``not_found`` and ``ApiRoute.handle`` answer Google's
  envelope directly instead of raising ``HTTPException`` for a handler to catch;
* anything that still escapes (a middleware, a response that fails before it started) is rendered by the
  outermost middleware, ``observe.RequestObserver``, with the same renderer; after the response started,
  it is re-raised and the server closes the connection, as Starlette's own outer layer does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gemfiles.errors import NotFound, error_body
from gemfiles.protocol.http import error_response, json_response

Handler = Callable[[Request], Awaitable[Response]]


class Endpoint:
    """A handler that renders its own refusals (``routes.api``), as an ASGI app: the request in, the
    response out, with no exception-handler lookup around it."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive, send))
        await response(scope, receive, send)


class ApiRoute(Route):
    """A route whose handler renders its own refusals; a method it does not have is answered here."""

    def __init__(self, path: str, handler: Handler, methods: Sequence[str]) -> None:
        name = getattr(handler, "__name__", None)
        super().__init__(path, Endpoint(handler), methods=list(methods), name=name)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            await method_not_allowed(scope)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def method_not_allowed(scope: Scope) -> Response:
    message = f"Method {scope['method']} is not allowed on {scope['path']}."
    return json_response(error_body(405, message, "INVALID_ARGUMENT"), 405)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """The router's answer when no route matches a path: Google's 404 envelope."""
    if scope["type"] != "http":
        return
    response = error_response(NotFound(f"The requested URL {scope['path']} was not found on this server."))
    await response(scope, receive, send)


class Frame(Starlette):
    """A Starlette application whose middleware stack is the configured middlewares around the router."""

    def __init__(
        self, routes: Sequence[BaseRoute], middleware: Sequence[Middleware] = (), **kwargs: Any
    ) -> None:
        super().__init__(routes=routes, middleware=middleware, **kwargs)
        self.router.default = not_found

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app
