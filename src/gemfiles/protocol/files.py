"""``/{v}/files``: get, list, delete and download."""

from __future__ import annotations

import re

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gemfiles.domain.models import FileRecord, FileSource
from gemfiles.errors import FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from gemfiles.protocol.http import JSON_TYPE, json_response, origin_of
from gemfiles.protocol.services import Services
from gemfiles.protocol.wire import RenderedFiles

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_RENDERED = RenderedFiles()  # File JSON bytes of the records read last (shared by get and list)


async def list_files(request: Request) -> Response:
    services: Services = request.app.state.services
    project = await services.auth.project(request)
    params = request.query_params
    page_size = page_size_param(params.get("pageSize", params.get("page_size")))
    token = params.get("pageToken", params.get("page_token")) or None
    page = await services.files.list(project, page_size, token)
    origin = origin_of(request, services.settings)
    allow = services.settings.allow_download
    # {"files": [...], "nextPageToken": "..."}, each part omitted when empty, spliced from each file's bytes.
    fields = []
    if page.files:
        fields.append(b'"files":[' + b",".join(_RENDERED(f, origin, allow) for f in page.files) + b"]")
    if page.next_token:
        fields.append(b'"nextPageToken":' + orjson.dumps(page.next_token))
    return Response(b"{" + b",".join(fields) + b"}", media_type=JSON_TYPE)


def page_size_param(raw: str | None) -> int | None:
    """Any non-negative integer; the domain clamps large values to the maximum, as Google does."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if text.startswith("-") and text[1:].isdigit():
        raise InvalidArgument(f"Invalid pageSize {raw!r}: must not be negative.")
    if not text.isascii() or not text.isdigit():
        raise InvalidArgument(f"Invalid pageSize {raw!r}: expected a non-negative integer.")
    return int(text) if len(text) <= 12 else 10**12  # huge values clamp like any value over the maximum


async def file_item(request: Request) -> Response:
    services: Services = request.app.state.services
    name: str = request.path_params["name"]
    file_id, _, verb = name.partition(":")
    project = await services.auth.project(request)
    if verb == "download" and request.method == "GET":
        return await _download(request, services, project, file_id)
    if verb:
        raise NotFound(f"Method :{verb} is not found on files/{file_id}.")
    if request.method == "DELETE":
        await services.files.delete(project, file_id)
        return json_response({})  # 200 with {}: the JS SDK parses the body, Python rejects 204
    record = await services.files.get(project, file_id)
    origin = origin_of(request, services.settings)
    return Response(_RENDERED(record, origin, services.settings.allow_download), media_type=JSON_TYPE)


async def _download(request: Request, services: Services, project: str, file_id: str) -> Response:
    record = await services.files.get(project, file_id)
    if record.source == FileSource.UPLOADED and not services.settings.allow_download:
        # Google: "uploaded files cannot be downloaded"; an operator may allow it (GEMFILES_ALLOW_DOWNLOAD).
        raise FailedPrecondition(
            f"Only generated files can be downloaded; files/{file_id} was uploaded. "
            "(The server operator can allow downloads of uploaded files.)"
        )
    return ranged_response(request, services, record, f'attachment; filename="{record.id}"')


def ranged_response(request: Request, services: Services, record: FileRecord, disposition: str) -> Response:
    """A file's bytes, or the part a ``Range: bytes=a-b`` header asks for (206; 416 past the end)."""
    size = record.size_bytes
    start, end, status = 0, size, 200
    headers = {"Accept-Ranges": "bytes", "Content-Disposition": disposition}
    range_header = request.headers.get("range")
    if range_header:
        match = _RANGE.match(range_header.strip())
        if not match or (not match.group(1) and not match.group(2)):
            raise InvalidArgument(f"Invalid Range header {range_header!r}.")
        first, last = match.groups()
        if first:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
        else:
            start = max(0, size - int(last))
        if start >= size or start >= end:
            return Response(b"", 416, headers={"Content-Range": f"bytes */{size}"}, media_type="text/plain")
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    return StreamingResponse(
        services.files.read(record, start, end),
        status_code=status,
        headers=headers,
        media_type=record.mime_type,
    )


async def register_files(request: Request) -> Response:
    services: Services = request.app.state.services
    await services.auth.project(request)  # an anonymous call is refused first, as on Google
    raise Unimplemented("files:register (Cloud Storage registration) is not supported by this server.")
