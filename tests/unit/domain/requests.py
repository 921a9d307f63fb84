"""Model requests for domain tests, built from metadata only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gemfiles.domain.calls import (
    FunctionCall,
    FunctionCallingConfig,
    FunctionDeclaration,
    FunctionResponse,
    Message,
    ModelRequest,
    Part,
    ResolvedFile,
    ResponseFormat,
)
from gemfiles.domain.models import FileRecord

WEATHER = FunctionDeclaration(
    "get_weather",
    "The weather in a city.",
    parameters={
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING"},
            "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "INTEGER", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit"],
    },
)
TIME = FunctionDeclaration(
    "get_time",
    parameters_json_schema={
        "type": "object",
        "properties": {"zone": {"type": "string", "format": "uri"}},
        "required": ["zone"],
        "additionalProperties": False,
    },
)


def pdf_part(display_name: str = "invoice-2026.pdf", sha: str = "cd" * 32) -> Part:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    record = FileRecord(
        project="p",
        id="doc1",
        display_name=display_name,
        mime_type="application/pdf",
        size_bytes=2048,
        sha256_hex=sha,
        create_time=now,
        update_time=now,
        expire_time=now + timedelta(hours=48),
        blob_key="k",
        facts={"pages": 2},
    )
    return Part("file", file=ResolvedFile(record, None))  # type: ignore[arg-type]


def text(value: str) -> Part:
    return Part("text", text=value)


def request(
    *parts: Part,
    model: str = "gemini-2.5-flash",
    tools: tuple[FunctionDeclaration, ...] = (),
    mode: str = "AUTO",
    allowed: tuple[str, ...] = (),
    response: ResponseFormat | None = None,
    history: list[Message] | None = None,
) -> ModelRequest:
    return ModelRequest(
        model=model,
        messages=[*(history or []), Message("user", list(parts))],
        tools=tools,
        tool_config=FunctionCallingConfig(mode, allowed),  # type: ignore[arg-type]
        response_format=response or ResponseFormat(),
    )


def after_call(call: FunctionCall, result: dict[str, Any], **kwargs: Any) -> ModelRequest:
    history = [
        Message("user", [text("What is the weather in Oslo?")]),
        Message("model", [Part("function_call", function_call=call)]),
    ]
    result = Part("function_response", function_response=FunctionResponse(call.name, result, call.id))
    return request(result, history=history, **kwargs)
