"""``/{v}/models``: list and get, ``:generateContent``, ``:streamGenerateContent``, ``:countTokens`` and
``:batchGenerateContent`` (``protocol/batches.py``).

The handlers parse the wire request into a ``Call`` and render what the generation service
(``domain.generation``) answers.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.calls import Draft, Finished, FunctionCall, FunctionCalled, OutputEvent, TextDelta, Usage
from gemfiles.domain.faults import DropConnection
from gemfiles.domain.generation import Call
from gemfiles.errors import ApiError, InvalidArgument, NotFound
from gemfiles.protocol import batches
from gemfiles.protocol.contents import content_text, generate_drafts, read_json, snake_keys
from gemfiles.protocol.http import internal_error, json_response
from gemfiles.protocol.services import Services, model_route, services_of
from gemfiles.protocol.sse import sse_data, sse_response
from gemfiles.protocol.tools import call_part, calling_config, function_declarations, response_format
from gemfiles.protocol.wire import get
from gemfiles.settings import Settings

log = logging.getLogger("gemfiles.models")

_SYSTEM_WITH_CACHE = (
    "CachedContent can not be used with GenerateContent request setting system_instruction, tools or "
    "tool_config.\n\nProposed fix: move those values to CachedContent from GenerateContent request."
)

INPUT_TOKEN_LIMIT = 1_048_576
OUTPUT_TOKEN_LIMIT = 65_536


def routes() -> list[tuple[str, Any, list[str]]]:
    return [
        ("/models", list_models, ["GET"]),
        ("/models/{name}", model_item, ["GET", "POST"]),
        ("/tunedModels", list_tuned_models, ["GET"]),
        ("/tunedModels/{name}", tuned_model_item, ["GET", "POST"]),
    ]


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
    services = services_of(request)
    await services.auth.project(request)
    listed = services.generation.models()
    return json_response({"models": [model_json(name, backend) for name, backend in listed]})


async def list_tuned_models(request: Request) -> Response:
    await services_of(request).auth.project(request)
    return json_response({})  # no tuned models here; an empty list is {} (proto3 JSON)


async def model_item(request: Request) -> Response:
    return await _model_call(request, request.path_params["name"])


async def tuned_model_item(request: Request) -> Response:
    return await _model_call(request, "tunedModels/" + request.path_params["name"])


Handler = Callable[[Request, Services, str, str], Awaitable[Response]]


async def _model_call(request: Request, path_name: str) -> Response:
    """``gemini-2.5-flash:generateContent`` -> model ``gemini-2.5-flash``, method ``generateContent``."""
    services = services_of(request)
    project = await services.auth.project(request)
    model, _, method = path_name.partition(":")
    if request.method == "GET":
        if method:
            raise NotFound(f"Method :{method} is not found on {model} for GET.")
        return json_response(model_json(model, model_route(services, model, request).backend_name))
    handlers: dict[str, Handler] = {
        "generateContent": generate_content,
        "streamGenerateContent": stream_generate_content,
        "countTokens": count_tokens,
        "batchGenerateContent": batches.create_batch,
    }
    if method not in handlers:
        raise NotFound(
            f"Method :{method} is not found on {model}." if method else f"{model} needs a :method."
        )
    model_route(services, model, request, method)
    return await handlers[method](request, services, project, model)


async def _call(request: Request, services: Services, model: str, *, count: bool = False) -> Call:
    body = await read_json(request, services.settings)
    if count and "contents" not in body and get(body, "generate_content_request") is not None:
        body = get(body, "generate_content_request")  # countTokens' other request shape
        if not isinstance(body, dict):
            raise InvalidArgument("Invalid value at 'generate_content_request': expected an object.")
    return call_of(body, services.settings, model)


def call_of(body: dict[str, Any], settings: Settings, model: str) -> Call:
    """A GenerateContentRequest (wire JSON) as a domain ``Call``: what generateContent, its stream,
    countTokens and each line of a batch job send."""
    cached = get(body, "cached_content")
    if cached is not None:
        if not isinstance(cached, str):
            raise InvalidArgument("Invalid value at 'cached_content': expected a string.")
        if any(get(body, key) is not None for key in ("system_instruction", "tools", "tool_config")):
            raise InvalidArgument(_SYSTEM_WITH_CACHE)
    config = snake_keys(get(body, "generation_config"), "generation_config")
    return Call(
        model=model,
        drafts=generate_drafts(body, settings),
        system_instruction=content_text(get(body, "system_instruction"), "system_instruction"),
        generation_config=config,
        cached_content=cached,
        tools=function_declarations(body),
        tool_config=calling_config(body),
        response_format=response_format(config),
    )


def read_document(document: dict[str, Any], settings: Settings) -> tuple[list[Draft], str | None]:
    """A cached content's document (its contents and system instruction, wire JSON) as drafts: the
    ``DocumentReader`` the composition root hands the cache service."""
    drafts = generate_drafts(document, settings) if document.get("contents") else []
    return drafts, content_text(document.get("system_instruction"), "system_instruction")


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
    text: str,
    model: str,
    response_id: str,
    finished: Finished | None = None,
    calls: tuple[FunctionCall, ...] = (),
) -> dict[str, Any]:
    """A GenerateContentResponse; never a continuationToken (the Python SDK would follow it, WIRE.md 10.2).
    Function calls are ``functionCall`` parts after the text (a text part only when there is text)."""
    parts: list[dict[str, Any]] = [{"text": text}] if text or not calls else []
    parts.extend(call_part(call) for call in calls)
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
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


async def generate_content(request: Request, services: Services, project: str, model: str) -> Response:
    answer = await services.generation.generate(project, await _call(request, services, model))
    return json_response(response_json(answer.text, model, new_response_id(), answer.finished, answer.calls))


async def stream_generate_content(request: Request, services: Services, project: str, model: str) -> Response:
    events = await services.generation.stream(project, await _call(request, services, model))
    return sse_response(_chunks(events, model, new_response_id()))


async def _chunks(events: AsyncIterator[OutputEvent], model: str, response_id: str) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                if event.text:
                    yield sse_data(response_json(event.text, model, response_id))
            elif isinstance(event, FunctionCalled):
                yield sse_data(response_json("", model, response_id, calls=(event.call,)))
            elif isinstance(event, Finished):
                # The last chunk carries finishReason and the usage, as Google's does.
                yield sse_data(response_json("", model, response_id, event))
    except DropConnection:
        raise  # a scripted cut: the connection closes without the terminating chunk
    except Exception as exc:
        error = exc if isinstance(exc, ApiError) else internal_error(exc, "backend failed mid-stream", log)
        yield sse_data(error.body())  # an in-stream error chunk: the JS SDK raises ApiError on it
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]


async def count_tokens(request: Request, services: Services, project: str, model: str) -> Response:
    usage = await services.generation.count_tokens(project, await _call(request, services, model, count=True))
    out: dict[str, Any] = {"totalTokens": usage.input_tokens}
    if usage.cached_tokens:
        out["cachedContentTokenCount"] = usage.cached_tokens
    if usage.input_by_modality:
        out["promptTokensDetails"] = modality_counts(usage)
    return json_response(out)
