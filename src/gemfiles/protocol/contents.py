"""Reading model-call requests: a size-capped body, and every shape of content the SDKs send.

generateContent takes ``contents: [{role, parts: [{text} | {fileData} | {inlineData} | {functionCall} |
{functionResponse}]}]`` (function parts: ``protocol.tools``); the Python SDK
writes ``fileData``'s inner keys in snake_case (``file_uri``, ``mime_type``), the JS SDK in camelCase,
curl samples use ``file_data`` (WIRE.md 10.1), so every key is read in both spellings. Interactions take
a string, one content block, a list of blocks (JS), a list wrapped in a ``user_input`` step (Python) or a
list of steps or turns (WIRE.md 11.1).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from gemfiles.domain.calls import Draft, DraftPart, FileRef, InlineData
from gemfiles.domain.timeline import FILES_API_HINT, MEDIA_BLOCKS, decode_base64
from gemfiles.errors import InvalidArgument
from gemfiles.protocol.body import read_json as body_json
from gemfiles.protocol.tools import function_part
from gemfiles.protocol.wire import get
from gemfiles.settings import Settings

_SNAKE_SPLIT = re.compile(r"(?<=[a-z0-9])([A-Z])")


async def read_json(request: Request, settings: Settings) -> dict[str, Any]:
    body = await body_json(
        request,
        settings.max_request_bytes,
        lenient_limit=settings.max_request_json_bytes,  # small bodies: JSON5 too, like Google's parser
        hint=FILES_API_HINT,
    )
    if not isinstance(body, dict):
        raise InvalidArgument("Invalid JSON payload received. Expected an object.")
    return body


def snake(key: str) -> str:
    return _SNAKE_SPLIT.sub(lambda m: "_" + m.group(1).lower(), key)


def snake_keys(config: Any, where: str) -> dict[str, Any]:
    """A config object's top-level keys in snake_case (values, such as schemas, are left alone)."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InvalidArgument(f"Invalid value at '{where}': expected an object.")
    return {snake(k): v for k, v in config.items()}


# generateContent ----------------------------------------------------------------------


def content_text(value: Any, where: str) -> str | None:
    """A system instruction: a Content (its text parts joined), a list of parts, or a string."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    parts = value.get("parts") if isinstance(value, dict) else value
    if not isinstance(parts, list):
        raise InvalidArgument(f"Invalid value at '{where}': expected a Content object.")
    texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return "\n".join(texts) or None


def part_of(part: Any, where: str, settings: Settings) -> DraftPart | None:
    if not isinstance(part, dict):
        raise InvalidArgument(f"Invalid value at '{where}': expected a Part object.")
    if isinstance(part.get("text"), str):
        if part.get("thought") is True:
            return None  # thought summaries echoed back in history are not input
        return str(part["text"])
    file_data = get(part, "file_data")
    if file_data is not None:
        uri = get(file_data, "file_uri")
        if not isinstance(uri, str) or not uri:
            raise InvalidArgument(f"Invalid value at '{where}.file_data': file_uri is required.")
        mime = get(file_data, "mime_type")
        return FileRef(uri, mime if isinstance(mime, str) else None)
    inline = get(part, "inline_data")
    if inline is not None:
        mime = get(inline, "mime_type")
        if not isinstance(mime, str) or not mime:
            raise InvalidArgument(f"Invalid value at '{where}.inline_data': mime_type is required.")
        data = decode_base64(
            get(inline, "data"), mime, f"{where}.inline_data.data", settings.max_inline_pdf_bytes
        )
        return InlineData(mime, data)
    return function_part(part, where)  # None for executable code and the like: not input here


def generate_drafts(body: dict[str, Any], settings: Settings) -> list[Draft]:
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not contents:
        raise InvalidArgument("* GenerateContentRequest.contents: contents is not specified")
    if not isinstance(contents, list):
        raise InvalidArgument("Invalid value at 'contents': expected a list of Content objects.")
    drafts = []
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise InvalidArgument(f"Invalid value at 'contents[{i}]': expected a Content object.")
        parts = content.get("parts") or []
        if not isinstance(parts, list):
            raise InvalidArgument(f"Invalid value at 'contents[{i}].parts': expected a list.")
        draft = Draft("model" if content.get("role") == "model" else "user")
        for j, part in enumerate(parts):
            item = part_of(part, f"contents[{i}].parts[{j}]", settings)
            if item is not None:
                draft.parts.append(item)
        drafts.append(draft)
    return drafts


# Interactions ----------------------------------------------------------------------


def normalize_block(block: Any, where: str) -> dict[str, Any]:
    """A content block with snake_case keys and its ``type`` (a bare ``{"text"}`` is a text block)."""
    if isinstance(block, str):
        return {"type": "text", "text": block}
    if not isinstance(block, dict):
        raise InvalidArgument(f"Invalid value at '{where}': expected a content object.")
    out = {snake(k): v for k, v in block.items()}
    if "type" not in out:
        if isinstance(out.get("text"), str):
            out["type"] = "text"
        else:
            raise InvalidArgument(f"Invalid value at '{where}': a content block needs a 'type'.")
    return out


def _is_step(value: Any) -> bool:
    """A step or a turn, as opposed to a content block (text, image, audio, video, document)."""
    return isinstance(value, dict) and (
        "role" in value or value.get("type") not in (None, "text", *MEDIA_BLOCKS)
    )


def input_steps(value: Any) -> list[dict[str, Any]]:
    """Any accepted ``input`` -> steps ``{"type": "user_input"|"model_output", "content": [...]}``."""
    if value is None or value == "" or value == []:
        raise InvalidArgument("input is required.")
    if isinstance(value, str):
        return [{"type": "user_input", "content": [{"type": "text", "text": value}]}]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise InvalidArgument("Invalid value at 'input': expected a string, a content object or a list.")
    if not any(_is_step(item) for item in value):
        # A bare list of content blocks (the JS SDK sends these as-is): one user turn.
        blocks = [normalize_block(b, f"input[{i}]") for i, b in enumerate(value)]
        return [{"type": "user_input", "content": blocks}]
    steps = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        kind: Any
        if not isinstance(item, dict):
            raise InvalidArgument(f"Invalid value at '{where}': expected a step object.")
        if "role" in item and "type" not in item:  # a turn: {"role": "user"|"model", "content": ...}
            kind = "model_output" if item.get("role") == "model" else "user_input"
        else:
            kind = item.get("type")
        content = item.get("content")
        if not _is_step(item):
            raise InvalidArgument(f"Invalid value at '{where}': a list may not mix content blocks and steps.")
        if kind not in ("user_input", "model_output"):
            steps.append(dict(item))  # thoughts, tool steps: kept in the timeline, not used as input
            continue
        if isinstance(content, str):
            content = [content]
        if content is None:
            content = []
        if not isinstance(content, list):
            raise InvalidArgument(f"Invalid value at '{where}.content': expected a list.")
        blocks = [normalize_block(b, f"{where}.content[{j}]") for j, b in enumerate(content)]
        steps.append({"type": kind, "content": blocks})
    return steps
