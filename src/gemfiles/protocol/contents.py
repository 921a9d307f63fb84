"""Reading model-call requests: a size-capped body, and every shape of content the SDKs send.

generateContent takes ``contents: [{role, parts: [{text} | {fileData} | {inlineData}]}]``; the Python SDK
writes ``fileData``'s inner keys in snake_case (``file_uri``, ``mime_type``), the JS SDK in camelCase,
curl samples use ``file_data`` (WIRE.md 10.1), so every key is read in both spellings. Interactions take
a string, one content block, a list of blocks (JS), a list wrapped in a ``user_input`` step (Python) or a
list of steps or turns (WIRE.md 11.1).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from starlette.requests import Request

from gemfiles.domain.calls import InlineData
from gemfiles.domain.contents import Draft, DraftPart, FileRef
from gemfiles.domain.mime import base_type
from gemfiles.errors import InvalidArgument
from gemfiles.protocol.body import read_json as body_json
from gemfiles.protocol.wire import camel
from gemfiles.settings import Settings

FILES_API_HINT = (
    "Upload large files with the Files API and refer to them by uri instead "
    "(https://ai.google.dev/gemini-api/docs/files)."
)
# Inline data larger than this is not kept in a stored interaction's timeline (GET shows the block
# without its "data"); the call itself sees all of it.
STORED_INLINE_MAX = 1024 * 1024
MEDIA_BLOCKS = ("image", "audio", "video", "document")
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


def get(obj: Any, snake: str) -> Any:
    """``obj[snake]`` or ``obj[camel]``: proto3 JSON accepts both spellings of a field."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(snake)
    return obj.get(camel(snake)) if value is None else value


def snake(key: str) -> str:
    return _SNAKE_SPLIT.sub(lambda m: "_" + m.group(1).lower(), key)


def snake_keys(config: Any, where: str) -> dict[str, Any]:
    """A config object's top-level keys in snake_case (values, such as schemas, are left alone)."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InvalidArgument(f"Invalid value at '{where}': expected an object.")
    return {snake(k): v for k, v in config.items()}


def decode_base64(data: Any, mime_type: str, where: str, settings: Settings) -> bytes:
    if not isinstance(data, str):
        raise InvalidArgument(f"Invalid value at '{where}' (TYPE_BYTES): expected a base64 string.")
    # Refuse an oversized inline PDF from its encoded length, before decoding it.
    if base_type(mime_type) == "application/pdf":
        approximate = len(data) * 3 // 4
        if approximate > settings.max_inline_pdf_bytes + 2:
            raise InvalidArgument(
                f"Inline PDF data exceeds the limit: {settings.max_inline_pdf_bytes} bytes. {FILES_API_HINT}"
            )
    text = data.strip()
    try:
        altchars = b"-_" if ("-" in text or "_" in text) else None
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(
            f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed for {text[:40]!r}."
        ) from None
    return decoded


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
        data = decode_base64(get(inline, "data"), mime, f"{where}.inline_data.data", settings)
        return InlineData(mime, data)
    return None  # function calls/responses, executable code, ...: not input a backend here can use


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


def block_part(block: dict[str, Any], where: str, settings: Settings) -> DraftPart | None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise InvalidArgument(f"Invalid value at '{where}.text': expected a string.")
        return text
    if kind not in MEDIA_BLOCKS:
        return None  # thoughts, function results, ...: nothing a backend here takes as input
    mime = block.get("mime_type")
    mime = mime if isinstance(mime, str) and mime else None
    if block.get("uri") is not None:
        if not isinstance(block["uri"], str):
            raise InvalidArgument(f"Invalid value at '{where}.uri': expected a string.")
        return FileRef(block["uri"], mime)
    if block.get("data") is not None:
        if mime is None:
            raise InvalidArgument(f"Invalid value at '{where}': mime_type is required with inline data.")
        return InlineData(mime, decode_base64(block["data"], mime, f"{where}.data", settings))
    raise InvalidArgument(f"Invalid value at '{where}': a {kind} block needs a 'uri' or 'data'.")


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


def steps_drafts(steps: list[dict[str, Any]], settings: Settings, where: str = "input") -> list[Draft]:
    drafts = []
    for i, step in enumerate(steps):
        kind = step.get("type")
        if kind not in ("user_input", "model_output"):
            continue
        draft = Draft("model" if kind == "model_output" else "user")
        for j, block in enumerate(step.get("content") or []):
            if block.get("omitted"):
                continue  # inline data too large to have been kept with a stored interaction
            item = block_part(block, f"{where}[{i}].content[{j}]", settings)
            if item is not None:
                draft.parts.append(item)
        drafts.append(draft)
    return drafts


def storable(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps as kept with a stored interaction: large inline data is left out."""
    out = []
    for step in steps:
        content = step.get("content")
        if isinstance(content, list):
            kept = []
            for block in content:
                data = block.get("data") if isinstance(block, dict) else None
                if isinstance(data, str) and len(data) > STORED_INLINE_MAX:
                    block = {k: v for k, v in block.items() if k != "data"} | {"omitted": True}
                kept.append(block)
            step = {**step, "content": kept}
        out.append(step)
    return out
