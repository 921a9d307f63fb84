"""``/{v}/interactions``: create (unary and SSE), get (JSON or a replayed stream), delete, cancel.

Answers use ``steps``, from which both SDKs compute ``output_text``, and also carry the legacy
``outputs`` array, which Google's REST sample reads with jq (the SDKs ignore it when ``steps`` is there).
The status is ``completed``; never ``requires_continuation`` or a ``continuation_token``, which the SDKs
would follow with more requests (WIRE.md 11.2). Success is exactly 200 with ``application/json`` or
``text/event-stream``: the SDKs' generated client refuses anything else (WIRE.md 3.2).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.calls import FunctionCalled
from gemfiles.domain.conversations import InteractionCall, InteractionStream
from gemfiles.domain.faults import DropConnection
from gemfiles.domain.interactions import InteractionRecord
from gemfiles.domain.timeline import output_steps, public
from gemfiles.errors import ApiError, InvalidArgument
from gemfiles.protocol.contents import content_text, input_steps, read_json, snake_keys
from gemfiles.protocol.http import internal_error, json_response
from gemfiles.protocol.services import model_route, services_of
from gemfiles.protocol.sse import EventIds, sse_response
from gemfiles.protocol.tools import (
    call_step,
    interaction_response_format,
    interaction_tool_config,
    interaction_tools,
)
from gemfiles.protocol.wire import get

log = logging.getLogger("gemfiles.models")


def routes() -> list[tuple[str, Any, list[str]]]:
    return [
        ("/interactions", create, ["POST"]),
        ("/interactions/{id}", item, ["GET", "DELETE"]),
        ("/interactions/{id}/cancel", cancel, ["POST"]),
    ]


def iso(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ssZ``, the format the interactions schema documents."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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
    produced = output_steps(record.steps)
    out["steps"] = [public(s) for s in (record.steps if timeline else produced)]
    # The legacy field: the output content blocks, for REST clients that read ".outputs[]".
    out["outputs"] = [block for step in produced for block in step.get("content") or []]
    if record.usage:
        out["usage"] = record.usage
    if include_input and "input" in record.extra:
        out["input"] = record.extra["input"]
    return out


# create ----------------------------------------------------------------------


def interaction_call(body: dict[str, Any]) -> InteractionCall:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        if body.get("agent"):
            raise InvalidArgument("Agents are not available on this server; name a model instead.")
        raise InvalidArgument("model is required.")
    steps = input_steps(body.get("input"))
    previous = get(body, "previous_interaction_id")
    if previous is not None and not isinstance(previous, str):
        raise InvalidArgument("Invalid value at 'previous_interaction_id': expected a string.")
    config = snake_keys(get(body, "generation_config"), "generation_config")
    call = InteractionCall(
        model=model.removeprefix("models/"),
        steps=steps,
        previous_id=previous or None,
        system_instruction=content_text(get(body, "system_instruction"), "system_instruction"),
        generation_config={k: v for k, v in config.items() if k != "tool_choice"},
        echo={"input": body.get("input")},
        store=body.get("store") is not False,
        tools=interaction_tools(body),
        tool_config=interaction_tool_config(config),
        response_format=interaction_response_format(body),
    )
    if call.generation_config:
        call.echo["generation_config"] = get(body, "generation_config")
    return call


async def create(request: Request) -> Response:
    services = services_of(request)
    project = await services.auth.project(request)
    body = await read_json(request, services.settings)
    model = body.get("model")
    if isinstance(model, str) and model:
        model_route(services, model.removeprefix("models/"), request)
    call = interaction_call(body)
    if body.get("stream") is True:
        stream = await services.interactions.stream(project, call)
        return sse_response(_events(stream))
    record = await services.interactions.create(project, call)
    return json_response(interaction_json(record, timeline=False))


async def _events(stream: InteractionStream) -> AsyncIterator[bytes]:
    """The stream of create: the text in a model_output step, each function call a step of its own (its
    arguments in one ``arguments_delta``)."""
    emit = EventIds()
    record = stream.record
    index, text_open = 0, False
    try:
        yield emit("interaction.created", {"interaction": head_json(record)})
        async for event in stream.events:
            if isinstance(event, FunctionCalled):
                if text_open:
                    yield emit("step.stop", {"index": index})
                    index, text_open = index + 1, False
                step = call_step(event.call)
                yield emit("step.start", {"index": index, "step": step | {"arguments": {}}})
                delta = {"type": "arguments_delta", "arguments": orjson.dumps(step["arguments"]).decode()}
                yield emit("step.delta", {"index": index, "delta": delta})
                yield emit("step.stop", {"index": index})
                index += 1
                continue
            if not text_open:
                yield emit("step.start", {"index": index, "step": {"type": "model_output", "content": []}})
                text_open = True
            yield emit("step.delta", {"index": index, "delta": {"type": "text", "text": event.text}})
        if text_open or index == 0:
            if not text_open:
                yield emit("step.start", {"index": index, "step": {"type": "model_output", "content": []}})
            yield emit("step.stop", {"index": index})
        yield emit("interaction.completed", {"interaction": head_json(record) | {"usage": record.usage}})
    except DropConnection:
        raise  # a scripted cut: the connection closes without interaction.completed
    except Exception as exc:
        error = exc if isinstance(exc, ApiError) else internal_error(exc, "backend failed mid-stream", log)
        yield emit("error", {"error": {"code": error.status, "message": error.message}})
    finally:
        with contextlib.suppress(Exception):
            await stream.events.aclose()


# get, delete, cancel ----------------------------------------------------------------------


def replay(record: InteractionRecord) -> Iterator[bytes]:
    """A stored interaction as the stream create would have sent (one delta per output block)."""
    emit = EventIds()
    yield emit("interaction.created", {"interaction": head_json(record) | {"status": "in_progress"}})
    for index, step in enumerate(output_steps(record.steps)):
        if step.get("type") == "function_call":
            yield emit("step.start", {"index": index, "step": step})
            yield emit("step.stop", {"index": index})
            continue
        yield emit("step.start", {"index": index, "step": {"type": step.get("type"), "content": []}})
        for block in step.get("content") or []:
            yield emit("step.delta", {"index": index, "delta": block})
        yield emit("step.stop", {"index": index})
    done = record.status in ("completed", "requires_action")
    final = "interaction.completed" if done else "interaction.status_update"
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


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


async def item(request: Request) -> Response:
    services = services_of(request)
    project = await services.auth.project(request)
    interaction_id: str = request.path_params["id"]
    if request.method == "DELETE":
        await services.interactions.delete(project, interaction_id)
        return json_response({})  # 200 with a JSON body: the JS SDK parses it
    record = await services.interactions.get(project, interaction_id)
    params = request.query_params
    if _flag(params.get("stream")):
        return sse_response(_after(replay(record), params.get("last_event_id")))
    include_input = _flag(params.get("include_input"))
    return json_response(interaction_json(record, timeline=True, include_input=include_input))


async def cancel(request: Request) -> Response:
    services = services_of(request)
    project = await services.auth.project(request)
    record = await services.interactions.cancel(project, request.path_params["id"])
    return json_response(interaction_json(record, timeline=False))
