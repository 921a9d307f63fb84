"""What the deterministic model replies to a request that asks for structure: JSON for a response schema,
one enum value for ``text/x.enum``, a function call when calling is forced, and after a function's result a
text that reports it. A plain request gets no reply here (the ``inspect`` backend then writes its report).

Everything is a function of the request: the seed is a SHA-256 of what the model received, so the same
request gets the same reply in any process, and a changed request (a new turn, another file) another one.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from gemfiles.domain.calls import (
    Finished,
    FunctionCall,
    FunctionCalled,
    FunctionDeclaration,
    FunctionResponse,
    Message,
    ModelRequest,
    OutputEvent,
    Part,
    TextDelta,
)
from gemfiles.domain.instances import enum_value, instance, seed_of
from gemfiles.domain.tokens import call_text, compact_json, count_request, with_output

CHUNK_CHARS = 32  # a JSON or text reply streams in pieces of this many characters


@dataclass(frozen=True, slots=True)
class Reply:
    """A model turn: text, function calls, or both (text first)."""

    text: str = ""
    calls: tuple[FunctionCall, ...] = ()


def request_seed(request: ModelRequest) -> int:
    """A stable seed from everything the model received."""
    return seed_of(
        request.model,
        request.system_instruction,
        tuple(_part_key(p) for m in request.messages for p in m.parts),
        tuple(m.role for m in request.messages),
        compact_json(request.generation_config),
        tuple((d.name, compact_json(d.json_schema())) for d in request.tools),
        request.tool_config,
        request.response_format,
    )


def _part_key(part: Part) -> object:
    if part.file is not None:
        return ("file", part.file.record.sha256_hex, part.file.record.display_name)
    if part.inline is not None:
        return ("inline", part.inline.mime_type, hashlib.sha256(part.inline.data).hexdigest())
    call = part.function_call or part.function_response
    return (part.kind, part.text, call_text(call) if call is not None else None, getattr(call, "id", None))


def last_user_message(request: ModelRequest) -> Message | None:
    return next((m for m in reversed(request.messages) if m.role == "user"), None)


def request_text(request: ModelRequest) -> str | None:
    """What a generated string carries: the last attached file's display name, else the last user text."""
    message = last_user_message(request)
    if message is None:
        return None
    for part in reversed(message.parts):
        if part.file is not None and part.file.record.display_name:
            return part.file.record.display_name
    texts = [p.text for p in message.parts if p.kind == "text" and p.text]
    return texts[-1] if texts else None


def function_responses(request: ModelRequest) -> list[FunctionResponse]:
    """The function results of the last turn, when the last turn is the user's and carries some."""
    if not request.messages or request.messages[-1].role != "user":
        return []
    parts = request.messages[-1].parts
    return [p.function_response for p in parts if p.function_response is not None]


def callable_functions(request: ModelRequest) -> list[FunctionDeclaration]:
    """The declared functions the config lets the model call (``allowedFunctionNames`` narrows ANY)."""
    allowed = request.tool_config.allowed_function_names
    if request.tool_config.mode == "NONE":
        return []
    return [d for d in request.tools if not allowed or d.name in allowed]


def choose_function(request: ModelRequest, seed: int) -> FunctionDeclaration | None:
    """The function named in the last user text if any, else one chosen by the seed."""
    functions = callable_functions(request)
    if not functions:
        return None
    text = (request_text(request) or "").lower()
    named = [d for d in functions if d.name.lower() in text]
    return named[0] if named else random.Random(seed).choice(functions)


def call_for(request: ModelRequest, declaration: FunctionDeclaration, index: int = 0) -> FunctionCall:
    """A call of ``declaration`` with arguments valid for its parameters and a stable id."""
    seed = seed_of(request_seed(request), declaration.name, index)
    args = instance(declaration.json_schema(), seed=seed, text=request_text(request))
    return FunctionCall(declaration.name, args if isinstance(args, dict) else {}, id=call_id(seed))


def call_id(seed: int) -> str:
    return f"call-{seed:016x}"[:17]


def structured_reply(request: ModelRequest, *, force_call: bool = False) -> Reply | None:
    """The reply to a request that asks for structure, or None for a plain request.

    Order: after a function's result, a text that reports it (under every mode, so a calling loop ends);
    then a forced call (mode ANY, or ``force_call`` from a scripted rule under AUTO/VALIDATED); then the
    response format (a JSON instance of the schema, or an enum value).
    """
    seed = request_seed(request)
    results = function_responses(request)
    if results:
        return Reply(text=result_text(request, results, seed))
    if force_call or request.tool_config.mode == "ANY":
        chosen = choose_function(request, seed)
        if chosen is not None:
            return Reply(calls=(call_for(request, chosen),))
    return format_reply(request, seed)


def format_reply(request: ModelRequest, seed: int, text: str | None = None) -> Reply | None:
    response_format = request.response_format
    schema = response_format.effective_schema()
    text = text if text is not None else request_text(request)
    if response_format.is_enum and schema is not None:
        return Reply(text=enum_value(schema, seed=seed, text=text))
    if response_format.is_json:
        if schema is None:
            return Reply(text=compact_json({"model": request.model, "text": text}))
        return Reply(text=compact_json(instance(schema, seed=seed, text=text)))
    return None


def result_text(request: ModelRequest, results: Iterable[FunctionResponse], seed: int) -> str:
    """After a function ran: a JSON instance that carries its result when a schema is asked for, else a
    sentence quoting each result."""
    results = list(results)
    summary = "; ".join(f"{r.name} returned {compact_json(r.response)}" for r in results)
    structured = format_reply(request, seed, text=summary)
    if structured is not None:
        return structured.text
    return summary + "."


def chunked(text: str, size: int = CHUNK_CHARS) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def reply_events(request: ModelRequest, reply: Reply) -> AsyncIterator[OutputEvent]:
    """The events of a reply, with usage as countTokens counts the request."""
    for piece in chunked(reply.text) if reply.text else []:
        yield TextDelta(piece)
    for call in reply.calls:
        yield FunctionCalled(call)
    usage = with_output(count_request(request), reply.text, reply.calls)
    yield Finished(usage, "STOP", model_version=request.model)
