"""``POST /upload/{v}/files``: resumable start, the upload URL's commands, multipart and raw uploads."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gemfiles.domain.faults import DropConnection
from gemfiles.domain.ports import StoreUnavailable
from gemfiles.domain.upload_machine import ChunkCommand, UploadError, UploadReply
from gemfiles.errors import ApiError, InvalidArgument
from gemfiles.protocol.body import read_json
from gemfiles.protocol.drops import DroppedConnection
from gemfiles.protocol.http import (
    JSON_TYPE,
    api_key_of,
    internal_error_response,
    json_response,
    origin_of,
    store_unavailable,
)
from gemfiles.protocol.services import Services
from gemfiles.protocol.wire import file_json, parse_file_metadata, parse_json_body, parse_uint_header

log = logging.getLogger("gemfiles.protocol")

CHUNK_GRANULARITY = 8 * 1024 * 1024
_COMMANDS = {"start", "upload", "finalize", "query", "cancel"}


async def upload_endpoint(request: Request) -> Response:
    """Refusals are raised, and rendered by ``http.render_exception``; on the upload URL every one of them
    is an ``UploadError``, so it carries X-Goog-Upload-Status (WIRE.md 12.5)."""
    services: Services = request.app.state.services
    token = request.query_params.get("upload_id")
    try:
        if token is None:
            return await _new_upload(request, services)
        return await _upload_url(request, services, token)
    except ClientDisconnect:
        # The client went away mid-body: nothing of that request was committed, and no one reads this reply.
        log.info("client disconnected during %s", request.url.path)
        error = InvalidArgument("The request body ended before all of its bytes arrived.")
        if token is None:
            raise error from None
        raise UploadError(error, "active") from None
    except DropConnection as exc:
        return DroppedConnection(str(exc))  # a planned fault: the chunk is stored, the reply is lost
    except UploadError:
        raise
    except StoreUnavailable:
        if token is None:
            raise
        raise UploadError(store_unavailable(), "active") from None  # the session is intact: query, resume
    except ApiError as exc:
        if token is None:
            raise  # a start or one-shot upload: rendered like any other API error
        raise UploadError(exc, "final") from None
    except Exception as exc:
        if token is None:
            raise
        # The session is intact: say so, so resumable clients can query and go on.
        return internal_error_response(exc, upload_status="active")


async def _new_upload(request: Request, services: Services) -> Response:
    protocol = request.headers.get("x-goog-upload-protocol", "").strip().lower()
    upload_type = request.query_params.get("uploadType", "").lower()
    content_type = request.headers.get("content-type", "").lower()
    if protocol == "resumable" or upload_type == "resumable":
        return await _start(request, services)
    if protocol == "multipart" or upload_type == "multipart" or content_type.startswith("multipart/"):
        return await _multipart(request, services)
    if protocol == "raw" or upload_type == "media":
        return await _raw(request, services)
    raise InvalidArgument(
        "Unknown upload protocol: send X-Goog-Upload-Protocol: resumable (or multipart, or raw)."
    )


def _declared_size(request: Request, meta: dict[str, Any]) -> int | None:
    header = parse_uint_header(
        request.headers.get("x-goog-upload-header-content-length"), "X-Goog-Upload-Header-Content-Length"
    )
    if header is not None and meta.get("sizeBytes") is not None and meta["sizeBytes"] != header:
        raise InvalidArgument(
            f"file.sizeBytes ({meta['sizeBytes']}) does not match X-Goog-Upload-Header-Content-Length ({header})."
        )
    return header if header is not None else meta.get("sizeBytes")


async def _start(request: Request, services: Services) -> Response:
    project = await services.auth.project(request)
    commands = _commands(request)
    if commands != {"start"}:
        raise InvalidArgument(
            "The first request of a resumable upload must send X-Goog-Upload-Command: start."
        )
    meta = parse_file_metadata(
        await read_json(request, services.settings.max_request_json_bytes, what="Upload")
    )
    mime_type = (
        request.headers.get("x-goog-upload-header-content-type")
        or meta.get("mimeType")
        or "application/octet-stream"
    )
    token, _session = await services.uploads.start(
        project,
        name=meta.get("name"),
        display_name=meta.get("displayName"),
        mime_type=mime_type.strip(),
        declared_size=_declared_size(request, meta),
    )
    # The upload URL keeps the start's path: /upload/{v}/files, or /upload/files for a version-less client.
    version = request.path_params.get("version", "")
    version_part = f"/{version}" if version else ""
    url = f"{origin_of(request, services.settings)}/upload{version_part}/files?upload_id={token}&upload_protocol=resumable"
    headers = {
        "X-Goog-Upload-Status": "active",
        "X-Goog-Upload-URL": url,
        "X-Goog-Upload-Control-URL": url,
        "X-Goog-Upload-Chunk-Granularity": str(CHUNK_GRANULARITY),
        "X-GUploader-UploadID": token,
    }
    return Response(b"", 200, headers=headers, media_type="text/plain; charset=utf-8")


def _commands(request: Request) -> set[str]:
    # A comma list: "upload, finalize" arrives with a space (WIRE.md 12.7).
    raw = request.headers.get("x-goog-upload-command", "")
    commands = {c.strip().lower() for c in raw.split(",") if c.strip()}
    unknown = commands - _COMMANDS
    if not commands or unknown:
        raise InvalidArgument(f"Invalid X-Goog-Upload-Command {raw!r}.")
    return commands


async def _upload_url(request: Request, services: Services, token: str) -> Response:
    # No API key is required here: the Python SDK sends none, the upload id is the credential.
    project = None
    key = api_key_of(request)
    if key is not None:
        with contextlib.suppress(ApiError):
            project = await services.auth.project_for_key(key)
    session = await services.uploads.session_for(token, project)
    try:
        commands = _commands(request)
    except ApiError as exc:
        raise UploadError(
            exc, "active" if session.status == "active" else "final", session.received
        ) from None
    try:
        if "start" in commands:
            raise InvalidArgument("This upload has already started.")
        offset = parse_uint_header(request.headers.get("x-goog-upload-offset"), "X-Goog-Upload-Offset")
        length = parse_uint_header(request.headers.get("content-length"), "Content-Length")
    except ApiError as exc:
        raise UploadError(exc, "active", session.received) from None
    if commands == {"query"}:
        reply = await services.uploads.query(session)
    elif commands == {"cancel"}:
        reply = await services.uploads.cancel(session)
    elif commands <= {"upload", "finalize"}:
        command = ChunkCommand(offset, length, upload="upload" in commands, finalize="finalize" in commands)
        reply = await services.uploads.chunk(session, command, request.stream())
    else:
        error = InvalidArgument(f"Commands {sorted(commands)} cannot be combined.")
        raise UploadError(error, "active", session.received)
    return _reply(request, services, reply)


def _reply(request: Request, services: Services, reply: UploadReply) -> Response:
    headers: dict[str, str] = {"X-Goog-Upload-Status": reply.status}
    if reply.received is not None and reply.status == "active":
        headers["X-Goog-Upload-Size-Received"] = str(reply.received)
    if reply.file is not None:
        # The final reply wraps the File: {"file": {...}} (WIRE.md 12.6).
        body = {"file": _file(request, services, reply.file)}
        return json_response(body, 200, headers)
    return Response(b"", 200, headers=headers, media_type="text/plain; charset=utf-8")


def _file(request: Request, services: Services, record: Any) -> dict[str, Any]:
    return file_json(
        record, origin_of(request, services.settings), allow_download=services.settings.allow_download
    )


# One-shot uploads -----------------------------------------------------------------------------------
async def _one_shot(
    request: Request,
    services: Services,
    project: str,
    meta: dict[str, Any],
    mime_type: str,
    body: AsyncIterator[bytes],
) -> Response:
    reply = await services.uploads.upload_whole(
        project,
        name=meta.get("name"),
        display_name=meta.get("displayName"),
        mime_type=mime_type,
        declared_size=meta.get("sizeBytes"),
        body=body,
    )
    return json_response(
        {"file": _file(request, services, reply.file)}, 200, {"X-Goog-Upload-Status": "final"}
    )


async def _raw(request: Request, services: Services) -> Response:
    project = await services.auth.project(request)
    mime_type = request.headers.get("content-type") or "application/octet-stream"
    return await _one_shot(request, services, project, {}, mime_type, request.stream())


async def _multipart(request: Request, services: Services) -> Response:
    project = await services.auth.project(request)
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not content_type.startswith(b"multipart/") or not boundary:
        raise InvalidArgument(
            "A multipart upload needs Content-Type multipart/related (or form-data) with a boundary."
        )
    reader = _MultipartReader(request.stream(), boundary, services.settings.max_request_json_bytes)
    first = await reader.next_part()
    if first is None:
        raise InvalidArgument("The multipart body has no parts.")
    meta: dict[str, Any] = {}
    data_headers = first
    if _is_metadata(first):
        meta = parse_file_metadata(parse_json_body(await reader.read_whole(), what="Metadata part"))
        second = await reader.next_part()
        if second is None:
            raise InvalidArgument("The multipart body has a metadata part but no file part.")
        data_headers = second
    mime_type = meta.get("mimeType") or data_headers.get("content-type") or "application/octet-stream"
    return await _one_shot(request, services, project, meta, mime_type.strip(), reader.read_stream())


def _is_metadata(headers: dict[str, str]) -> bool:
    content_type = headers.get("content-type", "").lower()
    disposition = headers.get("content-disposition", "").lower()
    return "json" in content_type or 'name="metadata"' in disposition


class _MultipartReader:
    """Pulls parts out of a streamed multipart body with python-multipart's push parser."""

    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes, meta_limit: int) -> None:
        self._stream = aiter(stream)
        self._events: list[tuple[str, Any]] = []
        self._meta_limit = meta_limit
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[str, str] = {}
        callbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        self._parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def _part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._headers[name] = self._header_value.decode("latin-1").strip()
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        self._events.append(("headers", self._headers))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", bytes(data[start:end])))

    def _part_end(self) -> None:
        self._events.append(("end", None))

    async def _event(self) -> tuple[str, Any] | None:
        while not self._events:
            try:
                chunk = await anext(self._stream)
            except StopAsyncIteration:
                return None
            if chunk:
                try:
                    self._parser.write(chunk)
                except Exception as exc:
                    raise InvalidArgument(f"Malformed multipart body: {exc}") from None
        return self._events.pop(0)

    async def next_part(self) -> dict[str, str] | None:
        while True:
            event = await self._event()
            if event is None:
                return None
            if event[0] == "headers":
                return dict(event[1])

    async def read_whole(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.read_stream():
            size += len(chunk)
            if size > self._meta_limit:
                raise InvalidArgument(f"The metadata part exceeds {self._meta_limit} bytes.")
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_stream(self) -> AsyncIterator[bytes]:
        while True:
            event = await self._event()
            if event is None:
                raise InvalidArgument("The multipart body ended in the middle of a part.")
            kind, value = event
            if kind == "end":
                return
            if kind == "data" and value:
                yield value


__all__ = ["JSON_TYPE", "upload_endpoint"]
