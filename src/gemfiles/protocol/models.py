"""``/{v}/models``: list and get, ``:generateContent``, ``:streamGenerateContent`` and ``:countTokens``.

Also the extension that create_app picks up: it builds the backend router and the content resolver,
registers these routes and the interactions routes, and sweeps expired interactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gemfiles.backends.router import Route, Router
from gemfiles.domain.calls import Finished, ModelRequest, OutputEvent, TextDelta, Usage
from gemfiles.domain.contents import ContentResolver, FileFacts, InlineFacts
from gemfiles.domain.ports import InteractionStore
from gemfiles.errors import ApiError, InvalidArgument, NotFound, error_body
from gemfiles.protocol.contents import content_text, generate_drafts, get, read_json, snake_keys
from gemfiles.protocol.http import json_response
from gemfiles.protocol.services import Services

log = logging.getLogger("gemfiles.models")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
INPUT_TOKEN_LIMIT = 1_048_576
OUTPUT_TOKEN_LIMIT = 65_536
SWEEP_BATCH = 500


@dataclass
class ModelCalls:
    """What the model-call handlers share, kept in ``Services.extras["models"]``."""

    services: Services
    router: Router
    resolver: ContentResolver
    interactions: InteractionStore | None

    def route(self, model: str, request: Request, method: str = "generateContent") -> Route:
        route = self.router.route(model)
        if route is None:
            name = model if model.startswith("tunedModels/") else f"models/{model}"
            # Google's reply to an unknown model name.
            raise NotFound(
                f"{name} is not found for API version {api_version(request)}, or is not supported for "
                f"{method}. Call ListModels to see the list of available models and their supported methods."
            )
        return route


def calls_of(request: Request) -> ModelCalls:
    calls: ModelCalls = request.app.state.services.extras["models"]
    return calls


def api_version(request: Request) -> str:
    first = request.url.path.lstrip("/").split("/", 1)[0]
    return first if first in ("v1", "v1beta", "v1alpha") else "v1beta"


def new_response_id() -> str:
    return secrets.token_urlsafe(16)


# Models resources ----------------------------------------------------------------------

_DESCRIPTIONS = {
    "inspect": "A deterministic inspector, not a language model: it answers with the facts of what it "
    "received (text, and each file's name, MIME type, size, SHA-256 and media facts).",
    "openai": "Served by the OpenAI-compatible chat-completions server this gemfiles is configured with.",
}


def model_json(name: str, backend: str) -> dict[str, Any]:
    return {
        "name": name if name.startswith("tunedModels/") else f"models/{name}",
        "baseModelId": name.rsplit("/", 1)[-1],
        "version": "001",
        "displayName": name.rsplit("/", 1)[-1],
        "description": _DESCRIPTIONS.get(backend, f"Served by the {backend} backend."),
        "inputTokenLimit": INPUT_TOKEN_LIMIT,
        "outputTokenLimit": OUTPUT_TOKEN_LIMIT,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    }


async def list_models(request: Request) -> Response:
    calls = calls_of(request)
    await calls.services.auth.project(request)
    return json_response({"models": [model_json(name, backend) for name, backend in calls.router.listed()]})


async def list_tuned_models(request: Request) -> Response:
    await calls_of(request).services.auth.project(request)
    return json_response({})  # no tuned models here; an empty list is {} (proto3 JSON)


async def model_item(request: Request) -> Response:
    return await _model_call(request, request.path_params["name"])


async def tuned_model_item(request: Request) -> Response:
    return await _model_call(request, "tunedModels/" + request.path_params["name"])


async def _model_call(request: Request, path_name: str) -> Response:
    """``gemini-2.5-flash:generateContent`` -> model ``gemini-2.5-flash``, method ``generateContent``."""
    calls = calls_of(request)
    project = await calls.services.auth.project(request)
    model, _, method = path_name.partition(":")
    if request.method == "GET":
        if method:
            raise NotFound(f"Method :{method} is not found on {model} for GET.")
        return json_response(model_json(model, calls.route(model, request).backend_name))
    handlers: dict[str, Callable[..., Any]] = {
        "generateContent": generate_content,
        "streamGenerateContent": stream_generate_content,
        "countTokens": count_tokens,
    }
    if method not in handlers:
        raise NotFound(
            f"Method :{method} is not found on {model}." if method else f"{model} needs a :method."
        )
    route = calls.route(model, request, method)
    result: Response = await handlers[method](request, calls, project, model, route)
    return result


async def _model_request(
    request: Request, calls: ModelCalls, project: str, model: str, *, count: bool = False
) -> ModelRequest:
    body = await read_json(request, calls.services.settings)
    if count and "contents" not in body and get(body, "generate_content_request") is not None:
        body = get(body, "generate_content_request")  # countTokens' other request shape
        if not isinstance(body, dict):
            raise InvalidArgument("Invalid value at 'generate_content_request': expected an object.")
    drafts = generate_drafts(body, calls.services.settings)
    messages = await calls.resolver.resolve(project, drafts)
    model_request = ModelRequest(
        model=model,
        messages=messages,
        system_instruction=content_text(get(body, "system_instruction"), "system_instruction"),
        generation_config=snake_keys(get(body, "generation_config"), "generation_config"),
    )
    prepare = calls.services.extras.get("prepare_request")
    if prepare is not None:  # cachedContent: the cached contents go first (protocol/caches.py)
        model_request = await prepare(project, body, model_request)
    return model_request


# generateContent ----------------------------------------------------------------------


def modality_counts(usage: Usage) -> list[dict[str, Any]]:
    return [{"modality": m.modality, "tokenCount": m.tokens} for m in usage.input_by_modality]


def usage_metadata(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        **({"cachedContentTokenCount": usage.cached_tokens} if usage.cached_tokens else {}),
        "candidatesTokenCount": usage.output_tokens,
        "totalTokenCount": usage.total_tokens,
    }
    if usage.input_by_modality:
        out["promptTokensDetails"] = modality_counts(usage)
    if usage.output_tokens:
        out["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": usage.output_tokens}]
    return out


def response_json(
    text: str, model: str, response_id: str, finished: Finished | None = None
) -> dict[str, Any]:
    """A GenerateContentResponse; never a continuationToken (the Python SDK would follow it, WIRE.md 10.2)."""
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
    if finished is not None:
        candidate["finishReason"] = finished.finish_reason
    candidate["index"] = 0
    out: dict[str, Any] = {"candidates": [candidate]}
    if finished is not None:
        out["usageMetadata"] = usage_metadata(finished.usage)
        out["modelVersion"] = finished.model_version or model
    else:
        out["modelVersion"] = model
    out["responseId"] = response_id
    return out


async def first_event(events: AsyncIterator[OutputEvent]) -> OutputEvent | None:
    """The backend's first event, awaited before any byte is sent, so its errors get a proper status."""
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None
    except BaseException:
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]
        raise


async def generate_content(
    request: Request, calls: ModelCalls, project: str, model: str, route: Route
) -> Response:
    model_request = await _model_request(request, calls, project, model)
    texts: list[str] = []
    finished: Finished | None = None
    async for event in route.backend.generate(model_request):
        if isinstance(event, TextDelta):
            texts.append(event.text)
        elif isinstance(event, Finished):
            finished = event
    finished = finished or Finished(Usage(0, 0))
    return json_response(response_json("".join(texts), model, new_response_id(), finished))


def sse_data(payload: Any) -> bytes:
    # Exactly "data: " with a space, one line, then a blank line (WIRE.md 10.3: Python needs the space,
    # JS needs the final event terminated).
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def stream_generate_content(
    request: Request, calls: ModelCalls, project: str, model: str, route: Route
) -> Response:
    model_request = await _model_request(request, calls, project, model)
    events = route.backend.generate(model_request)
    first = await first_event(events)
    response_id = new_response_id()

    async def body() -> AsyncIterator[bytes]:
        event = first
        try:
            while event is not None:
                if isinstance(event, TextDelta):
                    if event.text:
                        yield sse_data(response_json(event.text, model, response_id))
                elif isinstance(event, Finished):
                    # The last chunk carries finishReason and the usage, as Google's does.
                    yield sse_data(response_json("", model, response_id, event))
                event = await anext(events, None)
        except ApiError as exc:
            yield sse_data(exc.body())  # an in-stream error chunk: the JS SDK raises ApiError on it
        except Exception as exc:
            log.error("backend failed mid-stream", exc_info=exc)
            yield sse_data(error_body(500, "Internal error encountered.", "INTERNAL"))
        finally:
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


async def count_tokens(
    request: Request, calls: ModelCalls, project: str, model: str, route: Route
) -> Response:
    model_request = await _model_request(request, calls, project, model, count=True)
    usage = await route.backend.count_tokens(model_request)
    out: dict[str, Any] = {"totalTokens": usage.input_tokens}
    if usage.cached_tokens:
        out["cachedContentTokenCount"] = usage.cached_tokens
    if usage.input_by_modality:
        out["promptTokensDetails"] = modality_counts(usage)
    return json_response(out)


# The extension ----------------------------------------------------------------------


def media_facts(settings: Any) -> tuple[FileFacts | None, InlineFacts | None]:
    """The media layer's on-demand facts, each probed in a child process: for files used before the probe
    worker got to them (an image is ACTIVE, and usable, at once), and for inline data. Stored facts are
    never recomputed."""
    try:
        from gemfiles.media.isolated import Prober
    except ImportError:
        return None, None
    prober = Prober(settings.resolved_blob_url, settings.probe_timeout_seconds, settings.child_memory_mib)
    return prober.facts, prober.inline


def extension(services: Services) -> tuple[list[tuple[str, Any, list[str]]], list[Callable[[], Any]]]:
    from gemfiles.protocol import interactions
    from gemfiles.storage.interactions import open_interaction_store

    router = Router.from_settings(services.settings)  # a bad routing table fails at start-up
    file_facts, inline_facts = media_facts(services.settings)
    store = open_interaction_store(services.meta)
    calls = ModelCalls(
        services=services,
        router=router,
        resolver=ContentResolver(services.files, file_facts=file_facts, inline_facts=inline_facts),
        interactions=store,
    )
    services.extras["models"] = calls
    routes: list[tuple[str, Any, list[str]]] = [
        ("/models", list_models, ["GET"]),
        ("/models/{name}", model_item, ["GET", "POST"]),
        ("/tunedModels", list_tuned_models, ["GET"]),
        ("/tunedModels/{name}", tuned_model_item, ["GET", "POST"]),
        *interactions.routes(),
    ]

    async def housekeeping() -> None:
        """Sweeps expired interactions; closes the backends when the server stops."""
        interval = services.settings.sweep_interval.total_seconds()
        try:
            while True:
                if store is not None:
                    try:
                        swept = SWEEP_BATCH
                        while swept == SWEEP_BATCH:
                            swept = await store.sweep_expired_interactions(services.clock.now(), SWEEP_BATCH)
                    except Exception:
                        log.exception("interaction sweep failed; retrying in %.0fs", interval)
                await asyncio.sleep(interval)
        finally:
            await router.close()

    return routes, [housekeeping]
