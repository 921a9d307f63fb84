"""``/{v}/interactions``: create (unary and SSE), get (JSON or a replayed stream), delete, cancel.

Answers use ``steps``, from which both SDKs compute ``output_text``, and also carry the legacy
``outputs`` array, which Google's REST sample reads with jq (the SDKs ignore it when ``steps`` is there).
The status is ``completed``; never ``requires_continuation`` or a ``continuation_token``, which the SDKs
would follow with more requests (WIRE.md 11.2). Success is exactly 200 with ``application/json`` or
``text/event-stream``: the SDKs' generated client refuses anything else (WIRE.md 3.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gemfiles.domain.calls import Finished, ModelRequest, TextDelta, Usage
from gemfiles.domain.contents import Draft
from gemfiles.domain.interactions import FINAL_STATUSES, InteractionRecord, new_interaction_id
from gemfiles.errors import ApiError, FailedPrecondition, InvalidArgument, NotFound
from gemfiles.protocol.contents import (
    content_text,
    get,
    input_steps,
    read_json,
    snake_keys,
    steps_drafts,
    storable,
)
from gemfiles.protocol.http import json_response
from gemfiles.protocol.models import SSE_HEADERS, ModelCalls, calls_of, first_event

log = logging.getLogger("gemfiles.models")

HISTORY_DEPTH = 100


def routes() -> list[tuple[str, Any, list[str]]]:
    return [
        ("/interactions", create, ["POST"]),
        ("/interactions/{id}", item, ["GET", "DELETE"]),
        ("/interactions/{id}/cancel", cancel, ["POST"]),
    ]


def iso(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ssZ``, the format the interactions schema documents."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_json(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "total_input_tokens": usage.input_tokens,
        "total_output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.input_by_modality:
        out["input_tokens_by_modality"] = [
            {"modality": m.modality.lower(), "tokens": m.tokens} for m in usage.input_by_modality
        ]
    if usage.output_tokens:
        out["output_tokens_by_modality"] = [{"modality": "text", "tokens": usage.output_tokens}]
    return out


def output_steps(record: InteractionRecord) -> list[dict[str, Any]]:
    return [s for s in record.steps if s.get("type") not in ("user_input",) and not s.get("input")]


def head_json(record: InteractionRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id,
        "object": "interaction",
        "status": record.status,
        "model": record.model,
        "created": iso(record.create_time),
        "updated": iso(record.update_time),
    }
    if record.previous_id:
        out["previous_interaction_id"] = record.previous_id
    return out


def interaction_json(
    record: InteractionRecord, *, timeline: bool, include_input: bool = False
) -> dict[str, Any]:
    """The Interaction resource; ``timeline``: all steps (GET), else only what the model produced (create)."""
    out = head_json(record)
    if record.system_instruction:
        out["system_instruction"] = record.system_instruction
    for key, value in record.extra.items():
        if key != "input":
            out[key] = value
    steps = [_public(s) for s in record.steps] if timeline else [_public(s) for s in output_steps(record)]
    out["steps"] = steps
    # The legacy field: the output content blocks, for REST clients that read ".outputs[]".
    out["outputs"] = [block for step in output_steps(record) for block in step.get("content") or []]
    if record.usage:
        out["usage"] = record.usage
    if include_input and "input" in record.extra:
        out["input"] = record.extra["input"]
    return out


def _public(step: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in step.items() if k != "input"}


# create ----------------------------------------------------------------------


async def create(request: Request) -> Response:
    calls = calls_of(request)
    services = calls.services
    project = await services.auth.project(request)
    body = await read_json(request, services.settings)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        if body.get("agent"):
            raise InvalidArgument("Agents are not available on this server; name a model instead.")
        raise InvalidArgument("model is required.")
    model = model.removeprefix("models/")
    route = calls.route(model, request)
    steps = input_steps(body.get("input"))
    drafts = await _history(calls, project, get(body, "previous_interaction_id"))
    drafts += steps_drafts(steps, services.settings)
    system = content_text(get(body, "system_instruction"), "system_instruction")
    config = snake_keys(get(body, "generation_config"), "generation_config")
    messages = await calls.resolver.resolve(project, drafts)
    model_request = ModelRequest(model, messages, system, config)

    now = services.clock.now()
    record = InteractionRecord(
        project=project,
        id=new_interaction_id(),
        model=model,
        status="in_progress",
        create_time=now,
        update_time=now,
        expire_time=now + services.settings.interaction_ttl,
        previous_id=get(body, "previous_interaction_id") or None,
        system_instruction=system,
        steps=[{**s, "input": True} for s in storable(steps)],
        extra={"input": body.get("input")},
    )
    if config:
        record.extra["generation_config"] = get(body, "generation_config")
    keep = body.get("store") is not False and calls.interactions is not None
    if any(
        "data" in block for step in steps for block in step.get("content") or [] if isinstance(block, dict)
    ):
        # Inline data is echoed by include_input as the stored steps (large data left out), not verbatim.
        record.extra["input"] = [_public(step) for step in record.steps]
    if body.get("stream") is True:
        return await _stream(calls, record, model_request, route.backend, keep)

    texts: list[str] = []
    finished: Finished | None = None
    async for event in route.backend.generate(model_request):
        if isinstance(event, TextDelta):
            texts.append(event.text)
        elif isinstance(event, Finished):
            finished = event
    _complete(record, "".join(texts), finished, services.clock.now())
    if keep:
        await calls.interactions.put_interaction(record)  # type: ignore[union-attr]
    return json_response(interaction_json(record, timeline=False))


def _complete(record: InteractionRecord, text: str, finished: Finished | None, now: datetime) -> None:
    record.steps.append({"type": "model_output", "content": [{"type": "text", "text": text}]})
    record.usage = usage_json(finished.usage if finished else Usage(0, 0))
    record.status = "completed"
    record.update_time = now


async def _history(calls: ModelCalls, project: str, previous: Any) -> list[Draft]:
    """The conversation so far, from the chain of stored interactions ``previous_interaction_id`` names."""
    if previous is None or previous == "":
        return []
    if not isinstance(previous, str):
        raise InvalidArgument("Invalid value at 'previous_interaction_id': expected a string.")
    chain: list[InteractionRecord] = []
    current: str | None = previous
    now = calls.services.clock.now()
    while current and len(chain) < HISTORY_DEPTH:
        record = await _load(calls, project, current, now)
        chain.append(record)
        current = record.previous_id
    drafts: list[Draft] = []
    for record in reversed(chain):
        drafts += steps_drafts(record.steps, calls.services.settings, where=f"interactions/{record.id}.steps")
    return drafts


async def _load(calls: ModelCalls, project: str, interaction_id: str, now: datetime) -> InteractionRecord:
    record = None
    if calls.interactions is not None:
        record = await calls.interactions.get_interaction(project, interaction_id, now)
    if record is None:
        raise NotFound(f"Interaction {interaction_id} was not found.")
    return record


# Streams ----------------------------------------------------------------------


def sse_event(kind: str, payload: dict[str, Any]) -> bytes:
    """``event:``, one ``data:`` line, a blank line; the JSON carries ``event_type`` (WIRE.md 11.3)."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class EventIds:
    """``event_id``s a client can resume after (``GET ...?stream=true&last_event_id=``)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, kind: str, payload: dict[str, Any]) -> bytes:
        self.n += 1
        return sse_event(kind, {"event_type": kind, **payload, "event_id": f"evt_{self.n}"})


async def _stream(
    calls: ModelCalls, record: InteractionRecord, model_request: ModelRequest, backend: Any, keep: bool
) -> Response:
    store = calls.interactions if keep else None
    events = backend.generate(model_request)
    first = await first_event(events)
    if store is not None:
        await store.put_interaction(record)  # GET during the stream shows it in progress

    async def body() -> AsyncIterator[bytes]:
        emit = EventIds()
        texts: list[str] = []
        finished: Finished | None = None
        try:
            yield emit("interaction.created", {"interaction": head_json(record)})
            yield emit("step.start", {"index": 0, "step": {"type": "model_output", "content": []}})
            event = first
            while event is not None:
                if isinstance(event, TextDelta) and event.text:
                    texts.append(event.text)
                    yield emit("step.delta", {"index": 0, "delta": {"type": "text", "text": event.text}})
                elif isinstance(event, Finished):
                    finished = event
                event = await anext(events, None)
            _complete(record, "".join(texts), finished, calls.services.clock.now())
            if store is not None:
                await store.put_interaction(record)
            yield emit("step.stop", {"index": 0})
            yield emit("interaction.completed", {"interaction": head_json(record) | {"usage": record.usage}})
        except ApiError as exc:
            record.status = "failed"
            yield emit("error", {"error": {"code": exc.status, "message": exc.message}})
        except Exception as exc:
            record.status = "failed"
            log.error("backend failed mid-stream", exc_info=exc)
            yield emit("error", {"error": {"code": "INTERNAL", "message": "Internal error encountered."}})
        finally:
            with contextlib.suppress(Exception):
                await events.aclose()
            if record.status not in FINAL_STATUSES or record.status == "failed":
                await _settle(store, record, calls.services.clock.now())

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


async def _settle(store: Any, record: InteractionRecord, now: datetime) -> None:
    """A stream that ended early (client gone, backend failed) leaves its record final, not in progress."""
    if record.status == "in_progress":
        record.status = "cancelled"
    record.update_time = now
    if store is not None:
        with contextlib.suppress(Exception):
            await asyncio.shield(store.put_interaction(record))


def replay(record: InteractionRecord) -> Iterator[bytes]:
    """A stored interaction as the stream create would have sent (one delta per output block)."""
    emit = EventIds()
    yield emit("interaction.created", {"interaction": head_json(record) | {"status": "in_progress"}})
    for index, step in enumerate(output_steps(record)):
        yield emit("step.start", {"index": index, "step": {"type": step.get("type"), "content": []}})
        for block in step.get("content") or []:
            yield emit("step.delta", {"index": index, "delta": block})
        yield emit("step.stop", {"index": index})
    final = "interaction.completed" if record.status == "completed" else "interaction.status_update"
    if final == "interaction.completed":
        yield emit(final, {"interaction": head_json(record) | {"usage": record.usage}})
    else:
        yield emit(final, {"interaction_id": record.id, "status": record.status})


def _after(events: Iterator[bytes], last_event_id: str | None) -> Iterator[bytes]:
    if not last_event_id:
        yield from events
        return
    marker = f'"event_id":"{last_event_id}"'.encode()
    passed = False
    for event in events:
        if passed:
            yield event
        elif marker in event:
            passed = True


# get, delete, cancel ----------------------------------------------------------------------


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


async def item(request: Request) -> Response:
    calls = calls_of(request)
    services = calls.services
    project = await services.auth.project(request)
    interaction_id: str = request.path_params["id"]
    now = services.clock.now()
    if request.method == "DELETE":
        if calls.interactions is None or not await calls.interactions.delete_interaction(
            project, interaction_id, now
        ):
            raise NotFound(f"Interaction {interaction_id} was not found.")
        return json_response({})  # 200 with a JSON body: the JS SDK parses it
    record = await _load(calls, project, interaction_id, now)
    params = request.query_params
    if _flag(params.get("stream")):
        events = _after(replay(record), params.get("last_event_id"))
        return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
    include_input = _flag(params.get("include_input"))
    return json_response(interaction_json(record, timeline=True, include_input=include_input))


async def cancel(request: Request) -> Response:
    calls = calls_of(request)
    services = calls.services
    project = await services.auth.project(request)
    record = await _load(calls, project, request.path_params["id"], services.clock.now())
    if record.status in FINAL_STATUSES:
        raise FailedPrecondition(
            f"Interaction {record.id} is {record.status}; only an interaction in progress can be cancelled."
        )
    record.status = "cancelled"
    record.update_time = services.clock.now()
    await calls.interactions.put_interaction(record)  # type: ignore[union-attr]
    return json_response(interaction_json(record, timeline=False))
