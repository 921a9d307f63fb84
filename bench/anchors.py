"""Plain handlers the small-file benchmarks are measured against, each in its own uvicorn process.

The anchor does what any upload server must do and nothing more: it writes the body to a temporary file,
fsyncs it, renames it into place (and fsyncs the directory), records it in a dict and answers a File JSON;
``GET`` answers the File from the dict, and the listing a page of 100 from a sorted list. Whatever gemfiles
costs beyond this is its own overhead (metadata, SQL transactions, the protocol). For the SDKs' two-request
resumable path it also has ``start`` (the session kept in a dict, nothing written) and the upload URL's
``upload, finalize`` (the body stored as above): the protocol's second request, without a durable session.

    python -m uvicorn bench.anchors:app    (ANCHOR_DIR: where the files go)
"""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_ROOT = Path(os.environ.get("ANCHOR_DIR", "/tmp/gemfiles-anchor"))
_FILES: dict[str, dict[str, Any]] = {}
_ORDER: list[str] = []
_IDS = itertools.count()
_SESSIONS: dict[str, str] = {}  # upload name -> MIME type


def _store(name: str, data: bytes) -> None:
    tmp = _ROOT / f"{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, _ROOT / name)
    dir_fd = os.open(_ROOT, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _file_json(name: str, size: int, mime_type: str) -> dict[str, Any]:
    return {
        "name": f"files/{name}",
        "mimeType": mime_type,
        "sizeBytes": str(size),
        "createTime": "2026-01-01T00:00:00.000000Z",
        "updateTime": "2026-01-01T00:00:00.000000Z",
        "expirationTime": "2026-01-03T00:00:00.000000Z",
        "sha256Hash": "",
        "uri": f"http://127.0.0.1/v1beta/files/{name}",
        "state": "ACTIVE",
        "source": "UPLOADED",
    }


async def upload(request: Request) -> JSONResponse:
    data = await request.body()
    name = f"a{next(_IDS)}"
    await asyncio.to_thread(_store, name, data)
    record = _file_json(name, len(data), request.headers.get("content-type", "application/octet-stream"))
    _FILES[name] = record
    _ORDER.append(name)
    return JSONResponse({"file": record}, headers={"X-Goog-Upload-Status": "final"})


async def start(request: Request) -> Response:
    await request.body()
    name = f"a{next(_IDS)}"
    _SESSIONS[name] = request.headers.get("x-goog-upload-header-content-type", "application/octet-stream")
    url = f"http://{request.headers.get('host', '127.0.0.1')}/upload/{name}"
    return Response(b"", headers={"X-Goog-Upload-Status": "active", "X-Goog-Upload-URL": url})


async def finish(request: Request) -> JSONResponse:
    name = request.path_params["name"]
    mime_type = _SESSIONS.pop(name, None)
    if mime_type is None:
        return JSONResponse({"error": {"code": 404, "message": "no", "status": "NOT_FOUND"}}, 404)
    data = await request.body()
    await asyncio.to_thread(_store, name, data)
    record = _FILES[name] = _file_json(name, len(data), mime_type)
    _ORDER.append(name)
    return JSONResponse({"file": record}, headers={"X-Goog-Upload-Status": "final"})


def _append(path: Path, blocks: list[bytes], sync: bool) -> None:
    with open(path, "ab") as out:
        for block in blocks:
            out.write(block)
        if sync:
            out.flush()
            os.fsync(out.fileno())


async def chunk(request: Request) -> JSONResponse:
    """One chunk of a large upload streamed to the end of a file, fsynced before the reply."""
    path = _ROOT / f"big-{request.path_params['name']}"
    pending: list[bytes] = []
    size = 0
    async for data in request.stream():
        pending.append(data)
        size += len(data)
        if size >= 1 << 20:
            await asyncio.to_thread(_append, path, pending, False)
            pending, size = [], 0
    await asyncio.to_thread(_append, path, pending, True)
    return JSONResponse({"ok": True})


async def get_file(request: Request) -> JSONResponse:
    record = _FILES.get(request.path_params["name"])
    if record is None:
        return JSONResponse({"error": {"code": 404, "message": "no", "status": "NOT_FOUND"}}, 404)
    return JSONResponse(record)


async def list_files(request: Request) -> JSONResponse:
    size = int(request.query_params.get("pageSize", "100"))
    start = int(request.query_params.get("pageToken", "0") or 0)
    page = [_FILES[name] for name in _ORDER[start : start + size]]
    return JSONResponse({"files": page, "nextPageToken": str(start + size)})


async def seed(request: Request) -> JSONResponse:
    count = int(request.query_params["count"])
    for _ in range(count):
        name = f"a{next(_IDS)}"
        _FILES[name] = _file_json(name, 5, "text/plain")
        _ORDER.append(name)
    return JSONResponse({"files": len(_FILES)})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def _app() -> Starlette:
    _ROOT.mkdir(parents=True, exist_ok=True)
    return Starlette(
        routes=[
            Route("/upload", upload, methods=["POST"]),
            Route("/start", start, methods=["POST"]),
            Route("/upload/{name}", finish, methods=["POST"]),
            Route("/files/{name}", get_file),
            Route("/files", list_files),
            Route("/seed", seed, methods=["POST"]),
            Route("/chunks/{name}", chunk, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )


app = _app()
