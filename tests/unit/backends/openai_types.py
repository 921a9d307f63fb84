"""Requests checked against the OpenAI API's own published request types (the ``openai`` package's
TypedDicts), validated with pydantic.

Pydantic ignores keys a TypedDict does not declare and validates ``Iterable`` fields lazily, so the check
walks the validated value to the end and compares it with the original: an unknown key, or a wrong element
inside a list, fails here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from openai.types.chat import (
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartInputAudioParam,
    ChatCompletionContentPartTextParam,
)
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)
from pydantic import TypeAdapter

STREAMING: TypeAdapter[Any] = TypeAdapter(CompletionCreateParamsStreaming)
NON_STREAMING: TypeAdapter[Any] = TypeAdapter(CompletionCreateParamsNonStreaming)
PART_TYPES: dict[str, TypeAdapter[Any]] = {
    "text": TypeAdapter(ChatCompletionContentPartTextParam),
    "image_url": TypeAdapter(ChatCompletionContentPartImageParam),
    "input_audio": TypeAdapter(ChatCompletionContentPartInputAudioParam),
}


def materialize(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: materialize(item) for key, item in value.items()}
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple | Iterator) or hasattr(value, "__iter__"):
        return [materialize(item) for item in value]
    return value


def validate_request(body: dict[str, Any]) -> dict[str, Any]:
    """Raises if ``body`` is not a chat-completions request the OpenAI API's types accept, exactly."""
    adapter = STREAMING if body.get("stream") else NON_STREAMING
    validated = materialize(adapter.validate_python(body))
    assert validated == body, "the body has keys or values the OpenAI request types do not declare"
    for message in body["messages"]:
        if isinstance(message["content"], list):
            for part in message["content"]:
                again = materialize(PART_TYPES[part["type"]].validate_python(part))
                assert again == part
    return body
