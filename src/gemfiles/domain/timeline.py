"""An interaction's timeline as drafts: the steps a request sent, or a stored interaction kept, as turns.

A step is ``{"type": "user_input" | "model_output", "content": [blocks]}`` in the wire's snake_case shape
(``domain.interactions``); a block is text, or an image, audio, video or document given by ``uri`` or by
base64 ``data``. ``function_call`` steps are model turns that call a function, ``function_result`` steps user
turns that return its result. Other steps (thoughts, other tools) stay in the timeline, not model input.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from gemfiles.domain.calls import Draft, DraftPart, FileRef, FunctionCall, FunctionResponse, InlineData, Usage
from gemfiles.domain.mime import file_kind
from gemfiles.errors import InvalidArgument

FILES_API_HINT = (
    "Upload large files with the Files API and refer to them by uri instead "
    "(https://ai.google.dev/gemini-api/docs/files)."
)
MEDIA_BLOCKS = ("image", "audio", "video", "document")
TURN_STEPS = ("user_input", "model_output")
FUNCTION_STEPS = ("function_call", "function_result")


def decode_base64(data: Any, mime_type: str, where: str, max_inline_pdf_bytes: int) -> bytes:
    """Inline data's bytes; standard or URL-safe alphabet, padding optional (as Google's parser)."""
    if not isinstance(data, str):
        raise InvalidArgument(f"Invalid value at '{where}' (TYPE_BYTES): expected a base64 string.")
    # Refuse an oversized inline PDF from its encoded length, before decoding it.
    if file_kind(mime_type) == "pdf":
        approximate = len(data) * 3 // 4
        if approximate > max_inline_pdf_bytes + 2:
            raise InvalidArgument(
                f"Inline PDF data exceeds the limit: {max_inline_pdf_bytes} bytes. {FILES_API_HINT}"
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


def block_part(block: dict[str, Any], where: str, max_inline_pdf_bytes: int) -> DraftPart | None:
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
        return InlineData(mime, decode_base64(block["data"], mime, f"{where}.data", max_inline_pdf_bytes))
    raise InvalidArgument(f"Invalid value at '{where}': a {kind} block needs a 'uri' or 'data'.")


def function_step(step: dict[str, Any], where: str, names: dict[str, str]) -> FunctionCall | FunctionResponse:
    """A function call step, or a function result step (its name found by ``call_id`` when not given)."""
    if step.get("type") == "function_call":
        name, args, call_id = step.get("name"), step.get("arguments"), step.get("id")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"Invalid value at '{where}.name': a function name is required.")
        if isinstance(call_id, str) and call_id:
            names[call_id] = name
        return FunctionCall(name, args if isinstance(args, dict) else {}, call_id or None)
    call_id = step.get("call_id")
    call_id = call_id if isinstance(call_id, str) and call_id else None
    name = step.get("name") or names.get(call_id or "")
    if not isinstance(name, str) or not name:
        raise InvalidArgument(
            f"Invalid value at '{where}': a function result needs a 'name' or a known 'call_id'."
        )
    result = step.get("result")
    return FunctionResponse(name, result if isinstance(result, dict) else {"result": result}, call_id)


def steps_drafts(
    steps: list[dict[str, Any]],
    max_inline_pdf_bytes: int,
    where: str = "input",
    names: dict[str, str] | None = None,
) -> list[Draft]:
    """The steps as turns; ``names`` (call id -> function name) carries calls over from earlier steps."""
    drafts = []
    names = {} if names is None else names
    for i, step in enumerate(steps):
        kind = step.get("type")
        if kind in FUNCTION_STEPS:
            part = function_step(step, f"{where}[{i}]", names)
            drafts.append(Draft("model" if kind == "function_call" else "user", [part]))
            continue
        if kind not in TURN_STEPS:
            continue
        draft = Draft("model" if kind == "model_output" else "user")
        for j, block in enumerate(step.get("content") or []):
            if block.get("omitted"):
                continue  # inline data too large to have been kept with a stored interaction
            item = block_part(block, f"{where}[{i}].content[{j}]", max_inline_pdf_bytes)
            if item is not None:
                draft.parts.append(item)
        drafts.append(draft)
    return drafts


# Inline data larger than this is not kept in a stored interaction's timeline (GET shows the block
# without its "data"); the call itself sees all of it.
STORED_INLINE_MAX = 1024 * 1024


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


def public(step: dict[str, Any]) -> dict[str, Any]:
    """A stored step without its ``input`` marker."""
    return {k: v for k, v in step.items() if k != "input"}


def output_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps the model produced (not the request's input)."""
    return [s for s in steps if s.get("type") != "user_input" and not s.get("input")]


def has_inline_data(steps: list[dict[str, Any]]) -> bool:
    return any(
        "data" in block for step in steps for block in step.get("content") or [] if isinstance(block, dict)
    )


def usage_record(usage: Usage) -> dict[str, Any]:
    """Usage as an interaction keeps (and shows) it."""
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
