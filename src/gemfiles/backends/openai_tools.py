"""Function calling and structured output for the ``openai`` backend: Gemini's vocabulary in chat-completions
terms and back. Pure functions; ``openai.py`` builds its request body and reads its answer with them.

    functionDeclarations (parameters / parametersJsonSchema)  ->  tools: [{type: function, function: ...}]
    functionCallingConfig AUTO / VALIDATED / ANY / NONE       ->  tool_choice auto / auto / required / none
    ANY with one allowedFunctionName                          ->  tool_choice {type: function, function: {name}}
    responseSchema / responseJsonSchema                       ->  response_format {type: json_schema, ...}
    responseMimeType application/json without a schema        ->  response_format {type: json_object}
    text/x.enum                                               ->  a JSON string schema; the answer unquoted
    functionCall parts of a model turn                        ->  the assistant message's tool_calls
    functionResponse parts of a user turn                     ->  one tool message each, paired by id
    tool_calls (whole or streamed deltas)                     ->  FunctionCall events
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from gemfiles.domain.calls import (
    Finished,
    FunctionCall,
    Message,
    ModelRequest,
    OutputEvent,
    ResponseFormat,
    TextDelta,
)
from gemfiles.domain.tokens import compact_json
from gemfiles.errors import BadGateway

TOOL_CHOICE = {"AUTO": "auto", "VALIDATED": "auto", "ANY": "required", "NONE": "none"}


def tool_params(request: ModelRequest) -> dict[str, Any]:
    """``tools`` and ``tool_choice`` for the request (nothing when it declares no function)."""
    config = request.tool_config
    allowed = set(config.allowed_function_names)
    declared = [d for d in request.tools if config.mode != "ANY" or not allowed or d.name in allowed]
    if not declared:
        return {}
    tools = [
        {
            "type": "function",
            "function": {
                "name": d.name,
                **({"description": d.description} if d.description else {}),
                "parameters": d.json_schema(),
            },
        }
        for d in declared
    ]
    choice: Any = TOOL_CHOICE[config.mode]
    if config.mode == "ANY" and len(declared) == 1:
        choice = {"type": "function", "function": {"name": declared[0].name}}
    return {"tools": tools, "tool_choice": choice}


def response_format_param(
    response_format: ResponseFormat, schema_format: str = "json_schema"
) -> dict[str, Any] | None:
    """``response_format`` for the request; ``schema_format`` "json_object" sends a schema in
    llama-cpp-python's dialect (``{"type": "json_object", "schema": ...}``)."""
    schema = response_format.effective_schema()
    if response_format.is_enum and schema is not None:
        values = [str(v) for v in schema.get("enum", []) if v is not None]
        schema = {"type": "string", "enum": values}
    elif not response_format.is_json:
        return None
    if schema is None:
        return {"type": "json_object"}
    if schema_format == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def enum_answer(text: str) -> str:
    """A ``text/x.enum`` answer: the JSON string the server produced, unquoted (as is if not one)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text.strip()
    return value if isinstance(value, str) else text.strip()


async def enum_events(events: AsyncIterator[OutputEvent]) -> AsyncIterator[OutputEvent]:
    """``text/x.enum``: the server answered a JSON string (its grammar); the client gets the value."""
    texts: list[str] = []
    async for event in events:
        if isinstance(event, TextDelta):
            texts.append(event.text)
            continue
        if isinstance(event, Finished) and texts:
            yield TextDelta(enum_answer("".join(texts)))
            texts = []
        yield event


def function_messages(messages: Sequence[Message]) -> dict[int, list[dict[str, Any]]]:
    """For each turn with function calls or results (by index), the chat messages that carry them: an
    assistant message with ``tool_calls`` (and the turn's text), or one ``tool`` message per result. A
    result without an id is paired with the earliest unanswered call of the same name."""
    out: dict[int, list[dict[str, Any]]] = {}
    pending: dict[str, list[str]] = {}
    for index, message in enumerate(messages):
        calls = [p.function_call for p in message.parts if p.function_call is not None]
        results = [p.function_response for p in message.parts if p.function_response is not None]
        if message.role == "model" and calls:
            tool_calls = []
            for number, call in enumerate(calls):
                call_id = call.id or f"call_{index}_{number}"
                pending.setdefault(call.name, []).append(call_id)
                tool_calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": compact_json(call.args)},
                    }
                )
            text = "".join(p.text or "" for p in message.parts if p.kind == "text")
            out[index] = [{"role": "assistant", "content": text or None, "tool_calls": tool_calls}]
        elif results:
            tool_messages = []
            for number, result in enumerate(results):
                queue = pending.get(result.name, [])
                if result.id is not None and result.id in queue:
                    queue.remove(result.id)
                    call_id = result.id
                else:
                    call_id = result.id or (queue.pop(0) if queue else f"call_{index}_{number}")
                content = compact_json(result.response)
                tool_messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
            out[index] = tool_messages
    return out


class ToolCallStream:
    """Collects ``tool_calls`` from a whole message or from streamed deltas (fragments by ``index``)."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def feed(self, tool_calls: Iterable[dict[str, Any]] | None) -> None:
        for position, delta in enumerate(tool_calls or []):
            index = delta.get("index", position)
            entry = self._calls.setdefault(int(index), {"id": "", "name": "", "arguments": ""})
            function = delta.get("function") or {}
            entry["id"] = delta.get("id") or entry["id"]
            name = function.get("name") or ""
            if name != entry["name"]:  # llama-cpp-python repeats the whole name in every delta
                entry["name"] += name
            entry["arguments"] += function.get("arguments") or ""

    def calls(self) -> list[FunctionCall]:
        """The finished calls; arguments that are not a JSON object are the upstream's fault (502)."""
        out = []
        for index in sorted(self._calls):
            entry = self._calls[index]
            if not entry["name"]:
                raise BadGateway("The model server returned a tool call without a function name.")
            try:
                # strict=False: a small model may put raw control characters in a string
                args = json.loads(entry["arguments"], strict=False) if entry["arguments"].strip() else {}
            except ValueError:
                raise BadGateway(
                    f"The model server returned arguments for {entry['name']} that are not JSON."
                ) from None
            if not isinstance(args, dict):
                raise BadGateway(
                    f"The model server returned arguments for {entry['name']} that are not an object."
                )
            out.append(FunctionCall(entry["name"], args, entry["id"] or None))
        return out
