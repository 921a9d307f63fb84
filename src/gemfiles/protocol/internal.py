"""Our own endpoints, under /_internal/ and never mixed with Google's paths."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.clock import OffsetClock
from gemfiles.errors import FailedPrecondition, NotFound, Unavailable
from gemfiles.protocol.admin import scrub_grace, scrub_json
from gemfiles.protocol.body import read_json_object
from gemfiles.protocol.http import json_response
from gemfiles.protocol.services import Services
from gemfiles.settings import parse_duration


async def healthz(request: Request) -> Response:
    """Liveness and readiness: 200 once the stores are open and migrated, and still answering."""
    services: Services = request.app.state.services
    if not services.ready:
        raise Unavailable("starting")
    try:
        await services.meta.ping()
        await services.blobs.ping()
    except Exception as exc:
        raise Unavailable(f"storage is not reachable: {type(exc).__name__}") from None
    return json_response({"status": "ok"})


async def livez(request: Request) -> Response:
    return json_response({"status": "ok"})


def controls(request: Request) -> Services:
    services: Services = request.app.state.services
    if not services.settings.emulator_controls:
        raise NotFound("Emulator controls are off (GEMFILES_EMULATOR_CONTROLS=true turns them on).")
    return services


async def clock(request: Request) -> Response:
    """GET: the server's time. POST {"advance": "49h"}: move it forward (expiry tests, no sleeping)."""
    services = controls(request)
    if request.method == "POST":
        body = await read_json_object(request, services.settings.max_request_json_bytes)
        if not isinstance(services.clock, OffsetClock):
            raise FailedPrecondition("This server's clock cannot be moved.")
        try:
            services.clock.advance(parse_duration(body.get("advance", "0s")))
        except (ValueError, OverflowError) as exc:
            raise FailedPrecondition(f"Cannot advance the clock by {body.get('advance')!r}: {exc}") from None
    return json_response({"now": services.clock.now().isoformat()})


async def sweep(request: Request) -> Response:
    """Runs the expiry sweep and blob collection now; answers what this process deleted.

    ``{"scrub": true}`` runs the scrub of orphan bytes after them (``"graceSeconds": 0`` scrubs bytes of any
    age: only for a test whose uploads have all ended, since it would take an upload's bytes before its
    commit).
    """
    services = controls(request)
    body = await read_json_object(request, services.settings.max_request_json_bytes)
    grace = scrub_grace(body)
    report = await services.maintenance.sweep()
    reply: dict[str, Any] = {"files": report.files, "sessions": report.sessions, "blobs": report.blobs}
    if body.get("scrub") is True and services.scrubber is not None:
        scrubbed = await services.scrubber.scrub(grace)
        reply["scrub"] = scrub_json(scrubbed)
    return json_response(reply)


async def usage(request: Request) -> Response:
    services = controls(request)
    project = await services.auth.project(request)
    used = await services.meta.get_usage(project)
    return json_response({"usedBytes": str(used.used_bytes), "reservedBytes": str(used.reserved_bytes)})
