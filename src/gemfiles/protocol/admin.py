"""The admin API under /_internal/admin/ (projects, quotas, API keys, the scrub) and ``GET /metrics``.

The admin API answers only ``Authorization: Bearer <GEMFILES_ADMIN_TOKEN>``; without a configured token it
does not exist (404). ``/metrics`` is open unless GEMFILES_METRICS_TOKEN is set. Tokens are compared in
constant time. Errors use Google's envelope like every other endpoint.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.models import ProjectUsage
from gemfiles.domain.ports import ApiKeyRecord
from gemfiles.domain.scrub import REPORTED_KEYS, ScrubReport
from gemfiles.errors import InvalidArgument, NotFound, Unauthenticated
from gemfiles.protocol.body import read_json_object
from gemfiles.protocol.http import json_response
from gemfiles.protocol.services import Services, services_of
from gemfiles.protocol.wire import rfc3339


def bearer_matches(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def admin_services(request: Request) -> Services:
    services = services_of(request)
    token = services.settings.admin_token
    if not token:
        raise NotFound("The admin API is off (GEMFILES_ADMIN_TOKEN turns it on).")
    if not bearer_matches(request, token):
        raise Unauthenticated("The admin API needs Authorization: Bearer <GEMFILES_ADMIN_TOKEN>.")
    return services


async def metrics(request: Request) -> Response:
    services = services_of(request)
    token = services.settings.metrics_token
    if token and not bearer_matches(request, token):
        raise Unauthenticated("GET /metrics needs Authorization: Bearer <GEMFILES_METRICS_TOKEN>.")
    if services.telemetry is None:
        raise NotFound("Metrics are off.")
    body, content_type = await services.telemetry.exposition()
    return Response(body, media_type=content_type)


def project_json(row: ProjectUsage, default_quota: int) -> dict[str, Any]:
    return {
        "project": row.project,
        "files": row.files,
        "usedBytes": str(row.used_bytes),
        "reservedBytes": str(row.reserved_bytes),
        "quotaBytes": str(row.quota(default_quota)),
        "ownQuota": row.quota_bytes is not None,
    }


def key_json(record: ApiKeyRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prefix": record.prefix,
        "project": record.project,
        "createTime": rfc3339(record.create_time),
    }
    if record.revoke_time is not None:
        out["revokeTime"] = rfc3339(record.revoke_time)
    return out


async def projects(request: Request) -> Response:
    services = admin_services(request)
    default = services.admin.default_quota
    rows = await services.admin.projects()
    return json_response(
        {"projects": [project_json(r, default) for r in rows], "defaultQuotaBytes": str(default)}
    )


async def project(request: Request) -> Response:
    services = admin_services(request)
    row = await services.admin.usage(request.path_params["project"])
    return json_response(project_json(row, services.admin.default_quota))


async def quota(request: Request) -> Response:
    """PUT {"quotaBytes": "1000000"} gives the project its own quota; {"quotaBytes": null} removes it."""
    services = admin_services(request)
    body = await read_json_object(request, services.settings.max_request_json_bytes)
    if "quotaBytes" not in body:
        raise InvalidArgument('Send {"quotaBytes": <bytes>} or {"quotaBytes": null}.')
    raw = body["quotaBytes"]
    try:
        value = None if raw is None else int(str(raw))
    except ValueError:
        raise InvalidArgument("quotaBytes must be a whole number of bytes.") from None
    row = await services.admin.set_quota(request.path_params["project"], value)
    return json_response(project_json(row, services.admin.default_quota))


async def usage(request: Request) -> Response:
    """The usage of the project of the API key sent (x-goog-api-key), for ``gemfiles usage``."""
    services = admin_services(request)
    row = await services.admin.usage(await services.auth.project(request))
    return json_response(project_json(row, services.admin.default_quota))


async def keys(request: Request) -> Response:
    """GET: every key (prefix, project, times; never the key). POST {"project": "p"}: a new key, shown once."""
    services = admin_services(request)
    if request.method == "POST":
        body = await read_json_object(request, services.settings.max_request_json_bytes)
        made = await services.admin.create_key(str(body.get("project") or ""))
        return json_response({**key_json(made.record), "key": made.key})
    return json_response({"keys": [key_json(r) for r in await services.admin.keys()]})


async def key(request: Request) -> Response:
    """DELETE: revokes the key with this prefix."""
    services = admin_services(request)
    count = await services.admin.revoke_key(request.path_params["prefix"])
    services.auth.forget_keys()  # refused at once here; within KEY_CACHE_SECONDS on other processes
    return json_response({"revoked": count})


def scrub_json(report: ScrubReport) -> dict[str, Any]:
    """What a scrub removed (``keys``: the first of them), and what it left for a later one; for a dry run
    (``dryRun``), what it would have removed."""
    return {
        "dryRun": report.dry_run,
        "examined": report.examined,
        "removedObjects": report.objects,
        "removedUploads": report.uploads,
        "removedBytes": str(report.bytes),
        "removedObjectBytes": str(report.object_bytes),
        "removedUploadBytes": str(report.upload_bytes),
        "keys": report.keys,
        "waiting": report.waiting,
        "failed": report.failed,
        "seconds": report.seconds,
    }


def scrub_grace(body: dict[str, Any]) -> timedelta | None:
    """A request's ``graceSeconds`` (None: the configured grace)."""
    grace = body.get("graceSeconds")
    if grace is None:
        return None
    if isinstance(grace, bool) or not isinstance(grace, int | float) or grace < 0:
        raise InvalidArgument("graceSeconds must be a number of seconds, 0 or more.")
    return timedelta(seconds=grace)


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be true or false.")
    return value


async def scrub(request: Request) -> Response:
    """POST: scrubs the blob store now and answers what was removed. An optional body:
    ``{"dryRun": true}`` removes nothing and answers what would be removed, ``"graceSeconds"`` replaces the
    configured grace, ``"allKeys": true`` lists every key (not only the first 50)."""
    services = admin_services(request)
    if services.scrubber is None:
        raise NotFound("This server has no scrub.")
    body = await read_json_object(request, services.settings.max_request_json_bytes)
    grace, dry_run, all_keys = scrub_grace(body), _flag(body, "dryRun"), _flag(body, "allKeys")
    report = await services.scrubber.scrub(
        grace, dry_run=dry_run, key_limit=None if all_keys else REPORTED_KEYS
    )
    return json_response(scrub_json(report))
