"""Context caching: ``/{v}/cachedContents`` (create, list) and ``/{v}/cachedContents/{id}`` (get, PATCH,
delete). ``cachedContent`` in generateContent, its stream, countTokens and batch lines is read by
``models.call_of`` and resolved by the domain (``GenerationService.request``, ``CacheService.prefix``).

The CachedContent resource is rendered as Google does: name, displayName, model, createTime, updateTime,
expireTime and ``usageMetadata.totalTokenCount``; never the contents. ``ttl`` is a protobuf Duration
(``"300s"``), ``expireTime`` an RFC 3339 time; only those two change with PATCH (``updateMask`` optional,
the SDKs send none). A missing, expired or foreign cache is ``403 PERMISSION_DENIED "CachedContent not
found (or permission denied)"``, Google's answer, so another project's cache is invisible.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.cache_service import CacheService
from gemfiles.domain.caches import CachedContent
from gemfiles.errors import InvalidArgument, NotFound
from gemfiles.protocol.contents import get, read_json
from gemfiles.protocol.http import json_response
from gemfiles.protocol.services import Services, model_route, services_of
from gemfiles.protocol.wire import rfc3339

_DURATION = re.compile(r"^\s*(\d{1,12})(?:\.(\d{1,9}))?s\s*$")
_DOCUMENT_KEYS = ("contents", "system_instruction", "tools", "tool_config")
_UPDATABLE = {"ttl": "ttl", "expireTime": "expire_time", "expire_time": "expire_time"}


def parse_ttl(value: Any) -> timedelta | None:
    if value is None:
        return None
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidArgument(
            f"Invalid value at 'cached_content.ttl' (type.googleapis.com/google.protobuf.Duration), {value!r}: "
            'expected a duration such as "300s".'
        )
    seconds, fraction = match.groups()
    return timedelta(seconds=int(seconds) + (int(fraction.ljust(9, "0")) / 1e9 if fraction else 0))


def parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
        if moment.tzinfo is None:
            raise ValueError(value)
    except ValueError:
        raise InvalidArgument(
            f"Invalid value at 'cached_content.expire_time' (type.googleapis.com/google.protobuf.Timestamp), "
            f"{value!r}: expected an RFC 3339 time."
        ) from None
    return moment.astimezone(UTC)


def cache_json(cache: CachedContent) -> dict[str, Any]:
    out: dict[str, Any] = {"name": cache.name}
    if cache.display_name:
        out["displayName"] = cache.display_name
    out["model"] = cache.model
    out["createTime"] = rfc3339(cache.create_time)
    out["updateTime"] = rfc3339(cache.update_time)
    out["expireTime"] = rfc3339(cache.expire_time)
    out["usageMetadata"] = {"totalTokenCount": cache.total_tokens}
    return out


def routes() -> list[tuple[str, Any, list[str]]]:
    return [
        ("/cachedContents", collection, ["GET", "POST"]),
        ("/cachedContents/{name}", item, ["GET", "PATCH", "DELETE"]),
    ]


def service_of(request: Request) -> tuple[Services, CacheService]:
    services = services_of(request)
    if services.caches is None:
        raise NotFound("Cached contents need a SQL metadata store.")
    return services, services.caches


async def create(request: Request, services: Services, caches: CacheService) -> Response:
    project = await services.auth.project(request)
    body = await read_json(request, services.settings)
    model = get(body, "model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidArgument("* CreateCachedContentRequest.cached_content.model: model is required.")
    model_id = model.removeprefix("models/")
    model_route(services, model_id, request, "createCachedContent")
    document = {key: get(body, key) for key in _DOCUMENT_KEYS if get(body, key) is not None}
    if not document.get("contents") and not document.get("system_instruction"):
        raise InvalidArgument("* CreateCachedContentRequest.cached_content: contents is not specified")
    ttl, expire_time = parse_ttl(get(body, "ttl")), parse_time(get(body, "expire_time"))
    prefix = await services.generation.cached_contents(project, document)
    display_name = get(body, "display_name")
    cache = await caches.create(
        project,
        model_id,
        document,
        prefix.tokens,
        display_name=display_name if isinstance(display_name, str) and display_name else None,
        ttl=ttl,
        expire_time=expire_time,
    )
    return json_response(cache_json(cache))


async def collection(request: Request) -> Response:
    services, caches = service_of(request)
    if request.method == "POST":
        return await create(request, services, caches)
    project = await services.auth.project(request)
    params = request.query_params
    raw_size = (params.get("pageSize") or params.get("page_size") or "").strip()
    if raw_size and not raw_size.isdigit():
        raise InvalidArgument(f"Invalid pageSize {raw_size!r}: expected a non-negative integer.")
    token = params.get("pageToken") or params.get("page_token") or None
    page = await caches.list(project, int(raw_size[:12]) if raw_size else None, token)
    body: dict[str, Any] = {}
    if page.caches:
        body["cachedContents"] = [cache_json(cache) for cache in page.caches]
    if page.next_token:
        body["nextPageToken"] = page.next_token
    return json_response(body)


async def item(request: Request) -> Response:
    services, caches = service_of(request)
    project = await services.auth.project(request)
    name = request.path_params["name"]
    if ":" in name:
        raise NotFound(f"Method :{name.partition(':')[2]} is not found on cachedContents.")
    if request.method == "DELETE":
        await caches.delete(project, name)
        return json_response({})
    if request.method == "PATCH":
        return await update(request, services, caches, project, name)
    return json_response(cache_json(await caches.get(project, name)))


async def update(
    request: Request, services: Services, caches: CacheService, project: str, name: str
) -> Response:
    body = await read_json(request, services.settings)
    mask = request.query_params.get("updateMask") or request.query_params.get("update_mask")
    fields = [f.strip() for f in mask.split(",") if f.strip()] if mask else None
    if fields is not None and any(f not in _UPDATABLE for f in fields):
        raise InvalidArgument(f"Invalid update_mask {mask!r}: only ttl and expire_time can be updated.")
    extra = [k for k in body if k not in _UPDATABLE and k != "name"]
    if fields is None and extra:
        raise InvalidArgument(f"Only ttl and expire_time can be updated; got {', '.join(sorted(extra))}.")
    wanted = {_UPDATABLE[f] for f in fields} if fields is not None else {"ttl", "expire_time"}
    ttl = parse_ttl(get(body, "ttl")) if "ttl" in wanted else None
    expire_time = parse_time(get(body, "expire_time")) if "expire_time" in wanted else None
    cache = await caches.update_expiry(project, name, ttl, expire_time)
    return json_response(cache_json(cache))
