"""Context caching: ``/{v}/cachedContents`` (create, list) and ``/{v}/cachedContents/{id}`` (get, PATCH,
delete), and ``cachedContent`` in generateContent, its stream, countTokens and batch lines.

The CachedContent resource is rendered as Google does: name, displayName, model, createTime, updateTime,
expireTime and ``usageMetadata.totalTokenCount``; never the contents. ``ttl`` is a protobuf Duration
(``"300s"``), ``expireTime`` an RFC 3339 time; only those two change with PATCH (``updateMask`` optional,
the SDKs send none). A missing, expired or foreign cache is ``403 PERMISSION_DENIED "CachedContent not
found (or permission denied)"``, Google's answer, so another project's cache is invisible.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.cache_service import CacheService
from gemfiles.domain.caches import CachedContent, model_name
from gemfiles.domain.calls import Message, ModelRequest
from gemfiles.domain.tokens import count_messages
from gemfiles.errors import InvalidArgument, NotFound
from gemfiles.protocol.contents import content_text, generate_drafts, get, read_json
from gemfiles.protocol.http import json_response
from gemfiles.protocol.services import Services
from gemfiles.protocol.wire import rfc3339

_DURATION = re.compile(r"^\s*(\d{1,12})(?:\.(\d{1,9}))?s\s*$")
_DOCUMENT_KEYS = ("contents", "system_instruction", "tools", "tool_config")
_UPDATABLE = {"ttl": "ttl", "expireTime": "expire_time", "expire_time": "expire_time"}
_SYSTEM_WITH_CACHE = (
    "CachedContent can not be used with GenerateContent request setting system_instruction, tools or "
    "tool_config.\n\nProposed fix: move those values to CachedContent from GenerateContent request."
)


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


class CachedContents:
    """The handlers, and the hook that puts a cache's contents before a model call's own."""

    def __init__(self, services: Services, caches: CacheService) -> None:
        self.services = services
        self.caches = caches

    async def resolve(self, project: str, document: dict[str, Any]) -> tuple[list[Message], str | None]:
        """A cache's contents resolved now: files must (still) be the caller's, unexpired and ACTIVE."""
        calls = self.services.extras["models"]
        contents = document.get("contents")
        drafts = generate_drafts(document, self.services.settings) if contents else []
        messages = await calls.resolver.resolve(project, drafts)
        system = content_text(document.get("system_instruction"), "system_instruction")
        return messages, system

    async def create(self, request: Request) -> Response:
        project = await self.services.auth.project(request)
        body = await read_json(request, self.services.settings)
        model = get(body, "model")
        if not isinstance(model, str) or not model.strip():
            raise InvalidArgument("* CreateCachedContentRequest.cached_content.model: model is required.")
        model_id = model.removeprefix("models/")
        self.services.extras["models"].route(model_id, request, "createCachedContent")
        document = {key: get(body, key) for key in _DOCUMENT_KEYS if get(body, key) is not None}
        if not document.get("contents") and not document.get("system_instruction"):
            raise InvalidArgument("* CreateCachedContentRequest.cached_content: contents is not specified")
        messages, system = await self.resolve(project, document)
        display_name = get(body, "display_name")
        cache = await self.caches.create(
            project,
            model_id,
            document,
            count_messages(messages, system).input_tokens,
            display_name=display_name if isinstance(display_name, str) and display_name else None,
            ttl=parse_ttl(get(body, "ttl")),
            expire_time=parse_time(get(body, "expire_time")),
        )
        return json_response(cache_json(cache))

    async def collection(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create(request)
        project = await self.services.auth.project(request)
        params = request.query_params
        raw_size = (params.get("pageSize") or params.get("page_size") or "").strip()
        if raw_size and not raw_size.isdigit():
            raise InvalidArgument(f"Invalid pageSize {raw_size!r}: expected a non-negative integer.")
        token = params.get("pageToken") or params.get("page_token") or None
        page = await self.caches.list(project, int(raw_size[:12]) if raw_size else None, token)
        body: dict[str, Any] = {}
        if page.caches:
            body["cachedContents"] = [cache_json(cache) for cache in page.caches]
        if page.next_token:
            body["nextPageToken"] = page.next_token
        return json_response(body)

    async def item(self, request: Request) -> Response:
        project = await self.services.auth.project(request)
        name = request.path_params["name"]
        if ":" in name:
            raise NotFound(f"Method :{name.partition(':')[2]} is not found on cachedContents.")
        if request.method == "DELETE":
            await self.caches.delete(project, name)
            return json_response({})
        if request.method == "PATCH":
            return await self.update(request, project, name)
        return json_response(cache_json(await self.caches.get(project, name)))

    async def update(self, request: Request, project: str, name: str) -> Response:
        body = await read_json(request, self.services.settings)
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
        cache = await self.caches.update_expiry(project, name, ttl, expire_time)
        return json_response(cache_json(cache))

    async def prepare(self, project: str, body: dict[str, Any], model_request: ModelRequest) -> ModelRequest:
        """``cachedContent`` in a model call: the cache's contents first, its system instruction."""
        name = get(body, "cached_content")
        if name is None:
            return model_request
        if not isinstance(name, str):
            raise InvalidArgument("Invalid value at 'cached_content': expected a string.")
        cache = await self.caches.get(project, name)
        if cache.model != model_name(model_request.model):
            raise InvalidArgument(
                f"Model used by GenerateContent request ({model_name(model_request.model)}) and CachedContent "
                f"({cache.model}) has to be the same."
            )
        if any(get(body, key) is not None for key in ("system_instruction", "tools", "tool_config")):
            raise InvalidArgument(_SYSTEM_WITH_CACHE)
        messages, system = await self.resolve(project, cache.document)
        return ModelRequest(
            model=model_request.model,
            messages=messages + model_request.messages,
            system_instruction=system,
            generation_config=model_request.generation_config,
            cached_tokens=count_messages(messages, system).input_tokens,
        )


def extension(services: Services) -> tuple[list[tuple[str, Any, list[str]]], list[Callable[[], Any]]]:
    import asyncio
    import logging

    from gemfiles.storage.caches import open_cache_store

    store = open_cache_store(services.meta)
    if store is None:
        return [], []
    caches = CacheService(store, services.clock)
    handlers = CachedContents(services, caches)
    services.extras["caches"] = caches
    services.extras["prepare_request"] = handlers.prepare

    async def sweeper() -> None:
        interval = services.settings.sweep_interval.total_seconds()
        while True:
            try:
                await caches.sweep()
            except Exception:
                logging.getLogger("gemfiles.caches").exception("cache sweep failed; retrying")
            await asyncio.sleep(interval)

    routes: list[tuple[str, Any, list[str]]] = [
        ("/cachedContents", handlers.collection, ["GET", "POST"]),
        ("/cachedContents/{name}", handlers.item, ["GET", "PATCH", "DELETE"]),
    ]
    return routes, [sweeper]
