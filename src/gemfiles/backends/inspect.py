"""``inspect``: the built-in backend. A deterministic inspector, not a language model.

It answers every request with a plain-text report of what reached it: the model name, the system
instruction, each turn's text, and for each file its name, display name, MIME type, size, SHA-256 and the
facts the media layer stored at upload (duration, codecs, dimensions, pages, lines, first line). The same
request always gets the same answer, offline, so tests and CI can assert on it. Token usage follows
Google's documented rates (``gemfiles.domain.tokens``).

A request that asks for structure gets the structured reply of ``gemfiles.domain.replies`` instead of the
report: a JSON instance of its response schema, an enum value, a function call under mode ANY, or after a
function's result a text that carries it.

It never reads a file's bytes: everything it reports about a file was stored with the file's metadata,
so the time to its first byte does not depend on the size of the files attached.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from gemfiles.domain.calls import Finished, ModelRequest, OutputEvent, Part, TextDelta, Usage
from gemfiles.domain.replies import reply_events, structured_reply
from gemfiles.domain.tokens import compact_json, count_request, with_output

HEADER = (
    "gemfiles inspect: a deterministic inspector, not a language model. This is what the request contained."
)

# Fact keys in the order they are reported, with their labels.
_FACTS: tuple[tuple[str, str], ...] = (
    ("duration_seconds", "Duration"),
    ("container", "Container"),
    ("video_codec", "Video codec"),
    ("audio_codec", "Audio codec"),
    ("sample_rate", "Sample rate"),
    ("channels", "Channels"),
    ("fps", "Frame rate"),
    ("frames", "Frames"),
    ("bit_rate", "Bit rate"),
    ("format", "Format"),
    ("pages", "Pages"),
    ("title", "Title"),
    ("line_count", "Lines"),
    ("char_count", "Characters"),
    ("first_line", "First line"),
    ("probe_error", "Probe error"),
)


def quoted(text: str) -> str:
    """One line, unambiguous: JSON string syntax."""
    return json.dumps(text, ensure_ascii=False)


def _fact_value(key: str, value: Any) -> str:
    if key == "duration_seconds" and isinstance(value, int | float):
        return f"{value:.3f} s"
    if key == "sample_rate" and isinstance(value, int | float):
        return f"{value} Hz"
    if key == "bit_rate" and isinstance(value, int | float):
        return f"{value} bit/s"
    if key == "fps" and isinstance(value, int | float):
        return f"{value:g} fps"
    if key in ("first_line", "title") and isinstance(value, str):
        return quoted(value)
    return str(value)


def fact_lines(facts: Mapping[str, Any] | None) -> list[str]:
    facts = facts or {}
    lines = []
    if isinstance(facts.get("width"), int) and isinstance(facts.get("height"), int):
        lines.append(f"  Dimensions: {facts['width']}x{facts['height']}")
    for key, label in _FACTS:
        if facts.get(key) is not None:
            lines.append(f"  {label}: {_fact_value(key, facts[key])}")
    known = {key for key, _ in _FACTS} | {"width", "height"}
    for key in sorted(k for k in facts if k not in known and facts[k] is not None):
        lines.append(f"  {key}: {facts[key]}")
    return lines


def _part_lines(part: Part, counters: dict[str, int]) -> list[str]:
    if part.kind == "text":
        return [f"Text: {quoted(part.text or '')}"]
    if part.kind == "file" and part.file is not None:
        counters["file"] += 1
        record = part.file.record
        lines = [f"File {counters['file']}: {record.name}"]
        if record.display_name:
            lines.append(f"  Display name: {quoted(record.display_name)}")
        lines += [
            f"  MIME type: {record.mime_type}",
            f"  Size: {record.size_bytes} bytes",
            f"  SHA-256: {record.sha256_hex}",
        ]
        return lines + fact_lines(record.facts)
    if part.function_call is not None:
        call = part.function_call
        return [
            f"Function call: {call.name} {compact_json(call.args)}" + (f" (id {call.id})" if call.id else "")
        ]
    if part.function_response is not None:
        result = part.function_response
        return [f"Function response: {result.name} {compact_json(result.response)}"]
    if part.kind == "inline" and part.inline is not None:
        counters["inline"] += 1
        inline = part.inline
        return [
            f"Inline data {counters['inline']}:",
            f"  MIME type: {inline.mime_type}",
            f"  Size: {len(inline.data)} bytes",
            f"  SHA-256: {hashlib.sha256(inline.data).hexdigest()}",
            *fact_lines(inline.facts),
        ]
    return []


def describe(request: ModelRequest, usage: Usage) -> str:
    lines = [HEADER, f"Model: {request.model}"]
    if request.system_instruction:
        lines.append(f"System instruction: {quoted(request.system_instruction)}")
    counters = {"file": 0, "inline": 0}
    several = len(request.messages) > 1
    for number, message in enumerate(request.messages, 1):
        if several:
            lines.append(f"Turn {number} ({message.role}):")
        for part in message.parts:
            lines.extend(("  " + line if several else line) for line in _part_lines(part, counters))
    detail = ", ".join(f"{m.modality} {m.tokens}" for m in usage.input_by_modality)
    lines.append(f"Input tokens: {usage.input_tokens}" + (f" ({detail})" if detail else ""))
    return "\n".join(lines) + "\n"


def chunks(answer: str) -> list[str]:
    """The answer split at line ends, so a stream carries several deltas."""
    return answer.splitlines(keepends=True) or [answer]


class InspectBackend:
    name = "inspect"

    async def generate(self, request: ModelRequest) -> AsyncIterator[OutputEvent]:
        reply = structured_reply(request)
        if reply is not None:
            async for event in reply_events(request, reply):
                yield event
            return
        usage = count_request(request)
        answer = describe(request, usage)
        for chunk in chunks(answer):
            yield TextDelta(chunk)
        yield Finished(with_output(usage, answer), "STOP", model_version=request.model)

    async def count_tokens(self, request: ModelRequest) -> Usage:
        return count_request(request)

    async def close(self) -> None:
        return None
