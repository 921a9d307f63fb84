"""``/console``: the operator's page, served from package data (``gemfiles/web/``: one HTML page, one
stylesheet, one script; no build step). The page holds no data: it asks for the admin token, keeps it in
the tab's sessionStorage and sends it as ``Authorization: Bearer`` on every call to /_internal/admin/.
Without GEMFILES_ADMIN_TOKEN the console does not exist (404), like the admin API."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

from gemfiles.errors import NotFound
from gemfiles.protocol.services import services_of

ASSETS = {
    "console.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# The page may load only its own script, style and images, and talk only to this server.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@cache
def asset(name: str) -> bytes:
    return (files("gemfiles") / "web" / name).read_bytes()


async def page(request: Request) -> Response:
    name = request.path_params.get("asset", "console.html")
    if not services_of(request).settings.admin_token:
        raise NotFound("The console is off (GEMFILES_ADMIN_TOKEN turns it on).")
    if name not in ASSETS:
        raise NotFound(f"The requested URL {request.url.path} was not found on this server.")
    headers = {
        "Content-Security-Policy": POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer",
    }
    return Response(asset(name), media_type=ASSETS[name], headers=headers)
