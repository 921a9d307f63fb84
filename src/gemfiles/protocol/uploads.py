"""``POST /upload/{v}/files``: resumable start, the upload URL's commands, multipart and raw uploads."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

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
from gemfiles.protocol.multipart import MultipartBody, boundary_of
from gemfiles.protocol.services import Services
from gemfiles.protocol.wire import file_json, parse_file_metadata, parse_json_body, parse_uint_header

log = logging.getLogger("gemfiles.protocol")

CHUNK_GRANULARITY = 8 * 1024 * 1024
_GRANULARITY = str(CHUNK_GRANULARITY).encode("ascii")
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
    response = Response(b"", 200, media_type="text/plain; charset=utf-8")
    # Starlette would lower-case and encode each name of a headers dict; these are written encoded, in the
    # same place (before Content-Length and Content-Type).
    url_bytes = url.encode("latin-1")
    response.raw_headers[:0] = [
        (b"x-goog-upload-status", b"active"),
        (b"x-goog-upload-url", url_bytes),
        (b"x-goog-upload-control-url", url_bytes),
        (b"x-goog-upload-chunk-granularity", _GRANULARITY),
        (b"x-guploader-uploadid", token.encode("latin-1")),
    ]
    return response


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
    boundary = boundary_of(request.headers.get("content-type", ""))
    if boundary is None:
        raise InvalidArgument(
            "A multipart upload needs Content-Type multipart/related (or form-data) with a boundary."
        )
    body = MultipartBody(request.stream(), boundary)
    first = await body.next_part()
    if first is None:
        raise InvalidArgument("The multipart body has no parts.")
    meta: dict[str, Any] = {}
    data_headers = first
    if _is_metadata(first):
        raw = await body.read_whole(services.settings.max_request_json_bytes)
        meta = parse_file_metadata(parse_json_body(raw, what="Metadata part"))
        second = await body.next_part()
        if second is None:
            raise InvalidArgument("The multipart body has a metadata part but no file part.")
        data_headers = second
    mime_type = meta.get("mimeType") or data_headers.get("content-type") or "application/octet-stream"
    return await _one_shot(request, services, project, meta, mime_type.strip(), body.read_stream())


def _is_metadata(headers: dict[str, str]) -> bool:
    content_type = headers.get("content-type", "").lower()
    disposition = headers.get("content-disposition", "").lower()
    return "json" in content_type or 'name="metadata"' in disposition


__all__ = ["JSON_TYPE", "upload_endpoint"]
