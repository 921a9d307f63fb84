"""Model calls: a client's call (model, drafts, instruction, config) answered by the backend its routing
table names, with every file the call refers to resolved first (the caller's, unexpired, ACTIVE).

The protocol layer parses wire JSON into a ``Call`` and renders what comes back: an ``Answer`` (unary), the
backend's ``OutputEvent`` stream (streamed), or a ``Usage`` (countTokens). Interactions build on this
service (``domain.conversations``); so do batch jobs (``domain.batch_runner``, through the protocol's line
reader). A call that names a cached content (``cachedContent``) starts with the cache's contents and system
instruction (``domain.cache_service``), and its usage counts their tokens as cached.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from gemfiles.domain.cache_service import CachedPrefix, CacheReader
from gemfiles.domain.calls import (
    Draft,
    Finished,
    FunctionCall,
    FunctionCalled,
    FunctionCallingConfig,
    FunctionDeclaration,
    ModelRequest,
    OutputEvent,
    ResponseFormat,
    TextDelta,
    Usage,
)
from gemfiles.domain.contents import ContentResolver
from gemfiles.domain.emulator import Emulator
from gemfiles.domain.ports import NoTelemetry, Telemetry
from gemfiles.domain.routing import ModelRouter, Route
from gemfiles.errors import NotFound


@dataclass(slots=True)
class Call:
    """A model call as the client asked for it, before its files are resolved."""

    model: str  # the model id without "models/" (``gemini-2.5-flash``, ``tunedModels/x``)
    drafts: list[Draft]
    system_instruction: str | None = None
    generation_config: dict[str, Any] = field(default_factory=dict)
    cached_content: str | None = None  # "cachedContents/{id}": its contents go before the drafts
    tools: tuple[FunctionDeclaration, ...] = ()
    tool_config: FunctionCallingConfig = field(default_factory=FunctionCallingConfig)
    response_format: ResponseFormat = field(default_factory=ResponseFormat)


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer: its text, its function calls and the backend's one ``Finished`` (usage, finish
    reason)."""

    text: str
    finished: Finished
    calls: tuple[FunctionCall, ...] = ()


class GenerationService:
    def __init__(
        self,
        router: ModelRouter,
        resolver: ContentResolver,
        caches: CacheReader | None = None,
        telemetry: Telemetry | None = None,
        emulator: Emulator | None = None,
    ) -> None:
        self.router = router
        self.resolver = resolver
        self.caches = caches
        self.telemetry = telemetry or NoTelemetry()
        self.emulator = emulator

    def route(self, model: str) -> Route | None:
        """The route the table gives a model id, or None (the caller words the 404 for its API)."""
        return self.router.route(model)

    def models(self) -> list[tuple[str, str]]:
        """(model id, backend name) of the models listed by name (literal patterns, backends' own)."""
        return self.router.listed()

    async def request(self, project: str, call: Call) -> ModelRequest:
        """The call with its files resolved, as a backend takes it."""
        if call.cached_content is None:
            messages = await self.resolver.resolve(project, call.drafts)
            return ModelRequest(
                call.model,
                messages,
                call.system_instruction,
                call.generation_config,
                tools=call.tools,
                tool_config=call.tool_config,
                response_format=call.response_format,
            )
        # The cache's contents first (their files resolved now), then the call's own.
        prefix = await self._cache_reader().prefix(project, call.cached_content, call.model)
        messages = await self.resolver.resolve(project, call.drafts)
        return ModelRequest(
            call.model,
            prefix.messages + messages,
            prefix.system_instruction,
            call.generation_config,
            tools=call.tools,
            tool_config=call.tool_config,
            response_format=call.response_format,
            cached_tokens=prefix.tokens,
        )

    async def cached_contents(self, project: str, document: dict[str, Any]) -> CachedPrefix:
        """A new cache's contents resolved (its files the caller's, unexpired, ACTIVE) and counted."""
        return await self._cache_reader().resolve(project, document)

    async def generate(self, project: str, call: Call, method: str = "generateContent") -> Answer:
        route = self._route(call.model)
        request = await self.request(project, call)
        with self._timed(route, "generate"):
            return await collect(self._events(project, method, request, route))

    async def stream(
        self, project: str, call: Call, method: str = "streamGenerateContent"
    ) -> AsyncGenerator[OutputEvent, None]:
        """The backend's events. The first is awaited before this returns, so an error before any output
        is raised here (and gets a proper status) rather than in the middle of a stream."""
        route = self._route(call.model)
        request = await self.request(project, call)
        return await started(self._timed_stream(route, self._events(project, method, request, route)))

    def _events(
        self, project: str, method: str, request: ModelRequest, route: Route
    ) -> AsyncIterator[OutputEvent]:
        """A scripted rule's answer if one matches, else the routed backend's; journaled either way."""
        if self.emulator is None:
            return route.backend.generate(request)
        return self.emulator.generate(project, method, request, route.backend.generate)

    async def count_tokens(self, project: str, call: Call) -> Usage:
        route = self._route(call.model)
        request = await self.request(project, call)
        with self._timed(route, "count_tokens"):
            return await route.backend.count_tokens(request)

    @contextlib.contextmanager
    def _timed(self, route: Route, method: str) -> Iterator[None]:
        """Reports one backend call to telemetry: its latency and, if it raised, the kind of error."""
        start = time.monotonic()
        error: str | None = None
        try:
            yield
        except Exception as exc:  # a client that goes away mid-stream is not a backend error
            error = type(exc).__name__
            raise
        finally:
            self.telemetry.model_call(route.backend_name, method, time.monotonic() - start, error)

    async def _timed_stream(
        self, route: Route, events: AsyncIterator[OutputEvent]
    ) -> AsyncGenerator[OutputEvent, None]:
        with self._timed(route, "stream"):
            try:
                async for event in events:
                    yield event
            finally:
                with contextlib.suppress(Exception):
                    await events.aclose()  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self.router.close()

    def _cache_reader(self) -> CacheReader:
        if self.caches is None:
            raise NotFound("Cached contents need a SQL metadata store.")
        return self.caches

    def _route(self, model: str) -> Route:
        route = self.router.route(model)
        if route is None:
            raise NotFound(f"models/{model} is not found.")
        return route


async def collect(events: AsyncIterator[OutputEvent]) -> Answer:
    texts: list[str] = []
    calls: list[FunctionCall] = []
    finished: Finished | None = None
    async for event in events:
        if isinstance(event, TextDelta):
            texts.append(event.text)
        elif isinstance(event, FunctionCalled):
            calls.append(event.call)
        elif isinstance(event, Finished):
            finished = event
    return Answer("".join(texts), finished or Finished(Usage(0, 0)), tuple(calls))


async def started(events: AsyncIterator[OutputEvent]) -> AsyncGenerator[OutputEvent, None]:
    """``events`` with its first event already awaited; closing the result closes ``events``."""
    try:
        first = await anext(events, None)
    except BaseException:
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]
        raise
    return _chained(first, events)


async def _chained(
    first: OutputEvent | None, events: AsyncIterator[OutputEvent]
) -> AsyncGenerator[OutputEvent, None]:
    try:
        event = first
        while event is not None:
            yield event
            event = await anext(events, None)
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]
