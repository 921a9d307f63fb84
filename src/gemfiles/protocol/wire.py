"""Wire shapes: the File resource as Google renders it, and tolerant parsing of what clients send.

Input accepts lowerCamel and snake_case keys alike and int64 values as JSON numbers or strings, as
proto3 JSON parsing does (the Python SDK sends ``display_name``/``size_bytes`` numbers, the JS SDK
``displayName``/``sizeBytes`` strings).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import datetime
from typing import Any

import json5
import orjson

from gemfiles.domain.models import FileRecord, FileSource, FileState
from gemfiles.domain.uploads import sha256_base64
from gemfiles.errors import InvalidArgument

_DIGITS = re.compile(r"^[0-9]{1,19}$")
_SNAKE = re.compile(r"_([a-z0-9])")


def rfc3339(moment: datetime, digits: int = 6) -> str:
    """UTC with a ``Z``; Google shows 6 fractional digits on create/update and 9 on expiration."""
    # isoformat's first 26 characters are YYYY-MM-DDTHH:MM:SS.ffffff (the offset, if any, follows).
    return moment.isoformat(timespec="microseconds")[:26] + "0" * (digits - 6) + "Z"


def duration(seconds: float) -> str:
    """google.protobuf.Duration JSON: ``12.5s``."""
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


def file_json(record: FileRecord, origin: str, *, allow_download: bool = False) -> dict[str, Any]:
    """The File resource in Google's field order; empty fields are omitted (proto3 JSON)."""
    out: dict[str, Any] = {"name": record.name}
    if record.display_name:
        out["displayName"] = record.display_name
    out["mimeType"] = record.mime_type
    out["sizeBytes"] = str(record.size_bytes)
    out["createTime"] = rfc3339(record.create_time)
    out["updateTime"] = rfc3339(record.update_time)
    out["expirationTime"] = rfc3339(record.expire_time, 9)
    out["sha256Hash"] = sha256_base64(record.sha256_hex)
    # Always https-shaped path on our origin; the SDKs take the id as the [a-z0-9]+ run after "files/".
    out["uri"] = f"{origin}/v1beta/files/{record.id}"
    if allow_download or record.source == FileSource.GENERATED:  # generated files are always downloadable
        out["downloadUri"] = f"{origin}/v1beta/files/{record.id}:download?alt=media"
    out["state"] = record.state.value
    out["source"] = record.source.value
    if record.state == FileState.FAILED and record.error:
        out["error"] = record.error
    video_duration = record.video_duration_seconds
    if video_duration is not None and record.state == FileState.ACTIVE:
        out["videoMetadata"] = {"videoDuration": duration(video_duration)}
    return out


class RenderedFiles:
    """File JSON as bytes, kept beside the record it renders: the SQL store hands out the same frozen
    record for an unchanged row (``storage.sql_rows.FileRecords``), so a file read again is answered with
    the bytes made the first time. A changed row is a new record, hence a miss; an entry holds its record,
    so the ``id`` in its key cannot be reused while it is kept. At most ``size`` entries, the least recently
    used one forgotten for each new one (never all at once: that was a 2-3 ms stall on one listing page).
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._memo: OrderedDict[tuple[int, str, bool], tuple[FileRecord, bytes]] = OrderedDict()

    def __call__(self, record: FileRecord, origin: str, allow_download: bool) -> bytes:
        key = (id(record), origin, allow_download)
        memo = self._memo
        hit = memo.get(key)
        if hit is not None and hit[0] is record:
            memo.move_to_end(key)
            return hit[1]
        data = orjson.dumps(file_json(record, origin, allow_download=allow_download))
        memo[key] = (record, data)
        memo.move_to_end(key)  # a key whose record changed is replaced in place
        if len(memo) > self.size:
            memo.popitem(last=False)
        return data


def camel(key: str) -> str:
    if "_" not in key:  # already lowerCamel (every key the SDKs send): nothing for the pattern to match
        return key
    return _SNAKE.sub(lambda m: m.group(1).upper(), key)


def get(obj: Any, snake: str) -> Any:
    """``obj[snake]`` or ``obj[camel]``: proto3 JSON accepts both spellings of a field."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(snake)
    return obj.get(camel(snake)) if value is None else value


def normalize_keys(value: Any) -> Any:
    """snake_case keys -> lowerCamel, recursively, so one code path reads both spellings."""
    if isinstance(value, dict):
        return {camel(k) if isinstance(k, str) else k: normalize_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize_keys(v) for v in value]
    return value


JSON5_MAX_BYTES = 8 * 1024
# One JSON or JSON5 string literal: linear to match (each quote kind's alternatives are disjoint).
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'""", re.DOTALL)
_SINGLE_QUOTED_ESCAPES = re.compile(r'\\(.)|"', re.DOTALL)


def parse_json_body(raw: bytes, *, what: str = "request") -> Any:
    """Strict JSON first; then single-quoted strings, because Google's parser takes the docs' curl bodies
    (``{'file': {'display_name': 'AUDIO'}}``); then, for small bodies only, the rest of JSON5.

    The json5 package is pure Python (about 10 s per MiB, on the event loop), so large bodies get the
    quote rewrite, which is linear and runs at regex speed, but not the full JSON5 grammar.
    """
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_json(what, exc) from None
    if "'" in text:
        try:
            return orjson.loads(_STRING.sub(_double_quoted, text))
        except orjson.JSONDecodeError:
            pass
    if len(raw) > JSON5_MAX_BYTES:
        raise _invalid_json(what, "not strict JSON")
    try:
        return json5.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _invalid_json(what, exc) from None


def _double_quoted(match: re.Match[str]) -> str:
    literal = match.group(0)
    if literal[0] == '"':
        return literal
    inner = _SINGLE_QUOTED_ESCAPES.sub(
        lambda m: '\\"' if m.group(0) == '"' else ("'" if m.group(1) == "'" else m.group(0)), literal[1:-1]
    )
    return f'"{inner}"'


def _invalid_json(what: str, reason: object) -> InvalidArgument:
    return InvalidArgument(f"Invalid JSON payload received. {what} body is not valid JSON: {reason}")


def parse_int64(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidArgument(f"Invalid value for {field}: expected an integer.")
    if isinstance(value, int):
        if value < 0:
            raise InvalidArgument(f"Invalid value for {field}: {value} is negative.")
        return value
    if isinstance(value, str) and _DIGITS.match(value):
        return int(value)
    raise InvalidArgument(f"Invalid value for {field}: {value!r} is not a non-negative integer.")


def parse_uint_header(value: str | None, header: str) -> int | None:
    if value is None:
        return None
    if not _DIGITS.match(value.strip()):
        raise InvalidArgument(f"Invalid {header} header: {value!r} is not a non-negative integer.")
    return int(value.strip())


# Fields of the File resource a client may send at creation; the rest are output-only and ignored.
_FILE_INPUT = {"name", "displayName", "mimeType", "sizeBytes"}
_FILE_OUTPUT = {
    "createTime",
    "updateTime",
    "expirationTime",
    "sha256Hash",
    "uri",
    "downloadUri",
    "state",
    "source",
    "error",
    "videoMetadata",
}


def parse_file_metadata(body: Any) -> dict[str, Any]:
    """``{"file": {...}}`` (or the bare File) -> normalized input fields."""
    if body is None or body == {}:
        return {}
    if not isinstance(body, dict):
        raise InvalidArgument("Invalid JSON payload received. Expected an object with a 'file' field.")
    body = normalize_keys(body)
    meta = body.get("file", body if _FILE_INPUT & body.keys() else {})
    extra = set(body) - {"file"} if "file" in body else set()
    if not isinstance(meta, dict):
        raise InvalidArgument("Invalid JSON payload received. 'file' must be an object.")
    unknown = sorted((set(meta) - _FILE_INPUT - _FILE_OUTPUT) | extra)
    if unknown:
        raise InvalidArgument(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
        )
    out: dict[str, Any] = {}
    for key in ("name", "displayName", "mimeType"):
        if meta.get(key) is not None:
            if not isinstance(meta[key], str):
                raise InvalidArgument(f"Invalid value for file.{key}: expected a string.")
            out[key] = meta[key]
    if meta.get("sizeBytes") is not None:
        out["sizeBytes"] = parse_int64(meta["sizeBytes"], "file.sizeBytes")
    return out
