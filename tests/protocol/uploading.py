"""Raw-HTTP helpers for the protocol tests: the resumable upload flow spelled out header by header.

Every reply of an upload URL is checked for ``X-Goog-Upload-Status`` here, so each test that touches an
upload URL also proves that no reply (errors included) ever lacks it (WIRE.md 12.5).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

START_PATH = "/upload/v1beta/files"
UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def sha256_hash(data: bytes) -> str:
    """Google's ``sha256Hash``: base64 of the lowercase hex digest."""
    return base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()


def key_headers(key: str | None) -> dict[str, str]:
    return {"x-goog-api-key": key} if key else {}


def start_upload(
    client: httpx.Client,
    key: str | None,
    *,
    size: int | None = None,
    mime_type: str | None = "text/plain",
    body: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """``start`` on ``/upload/v1beta/files``; ``body`` is sent as JSON, ``content`` as raw bytes."""
    sent = {"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start", **key_headers(key)}
    if size is not None:
        sent["X-Goog-Upload-Header-Content-Length"] = str(size)
    if mime_type is not None:
        sent["X-Goog-Upload-Header-Content-Type"] = mime_type
    if content is None:
        content = json.dumps(body if body is not None else {"file": {"display_name": "t"}}).encode()
    sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    return client.post(START_PATH, content=content, headers=sent)


def new_upload(client: httpx.Client, key: str, size: int | None, **kwargs: Any) -> str:
    """Starts a session and returns its upload URL."""
    reply = start_upload(client, key, size=size, **kwargs)
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-goog-upload-status"] == "active"
    return reply.headers["x-goog-upload-url"]


def send(
    client: httpx.Client,
    url: str,
    command: str,
    data: Any = b"",
    offset: int | str | None = None,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request on an upload URL, the way the Python SDK sends it (no API key, a bogus JSON type)."""
    sent = {"X-Goog-Upload-Command": command, "Content-Type": "application/json", **key_headers(key)}
    if offset is not None:
        sent["X-Goog-Upload-Offset"] = str(offset)
    sent.update(headers or {})
    reply = client.post(url, content=data, headers=sent)
    assert "x-goog-upload-status" in reply.headers, (reply.status_code, reply.headers, reply.text)
    assert reply.status_code != 500, reply.text
    return reply


def upload_all(client: httpx.Client, url: str, data: bytes, chunk: int) -> httpx.Response:
    """Sends ``data`` in chunks, the last one with ``upload, finalize``; returns the final reply."""
    offset = 0
    while True:
        piece = data[offset : offset + chunk]
        last = offset + len(piece) >= len(data)
        reply = send(client, url, "upload, finalize" if last else "upload", piece, offset)
        if last:
            return reply
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-goog-upload-status"] == "active"
        offset += len(piece)


def upload_file(
    client: httpx.Client, key: str, data: bytes, *, chunk: int = 1 << 20, **kwargs: Any
) -> dict[str, Any]:
    """A whole resumable upload; returns the File."""
    url = new_upload(client, key, len(data), **kwargs)
    reply = upload_all(client, url, data, chunk)
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-goog-upload-status"] == "final"
    return reply.json()["file"]


def get_file(client: httpx.Client, key: str, name: str) -> httpx.Response:
    return client.get(f"/v1beta/{name}", headers=key_headers(key))


def list_names(client: httpx.Client, key: str, **params: Any) -> list[str]:
    reply = client.get("/v1beta/files", params=params, headers=key_headers(key))
    assert reply.status_code == 200, reply.text
    return [f["name"] for f in reply.json().get("files", [])]


def usage(client: httpx.Client, key: str) -> tuple[int, int]:
    """(used, reserved) bytes of the key's project, from the emulator controls."""
    reply = client.get("/_internal/usage", headers=key_headers(key))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return int(body["usedBytes"]), int(body["reservedBytes"])


def advance_clock(client: httpx.Client, by: str) -> None:
    reply = client.post("/_internal/clock", json={"advance": by})
    assert reply.status_code == 200, reply.text


def sweep(client: httpx.Client) -> dict[str, int]:
    reply = client.post("/_internal/sweep")
    assert reply.status_code == 200, reply.text
    return reply.json()


def upload_key(url: str) -> str:
    """The blob store's name for a session's bytes: derived from the upload id, as the server does."""
    token = parse_qs(urlsplit(url).query)["upload_id"][0]
    return hashlib.sha256(token.encode()).hexdigest()[:40]


def upload_dir(data_dir: Path, url: str) -> Path:
    """Where the local-disk blob store keeps the parts of an unfinished upload."""
    return data_dir / "blobs" / "uploads" / upload_key(url)


def object_dir(data_dir: Path, url: str) -> Path:
    """Where the local-disk blob store keeps a finished upload's bytes."""
    name = upload_key(url)
    return data_dir / "blobs" / "objects" / name[:2] / name


def stored_object(data_dir: Path, url: str) -> Path:
    """A finished upload's bytes on the local disk: its folder of parts, or the one file a whole-file
    upload was written as (``<upload key><attempt>.data``); the folder's path when neither exists."""
    folder = object_dir(data_dir, url)
    if folder.exists():
        return folder
    return next(iter(sorted(folder.parent.glob(f"{folder.name}*.data"))), folder)


def holds_bytes(stored: Path) -> bool:
    return stored.is_file() or (stored.is_dir() and any(stored.iterdir()))


def inline_bytes(data_dir: Path, url: str) -> bytes | None:
    """A small whole upload's bytes where the embedded default keeps them: the SQLite database's
    ``inline_blobs`` (storage/inline.py), under ``inline/<upload key><attempt>``; None when there are none."""
    with contextlib.closing(sqlite3.connect(data_dir / "gemfiles.db")) as db:
        row = db.execute(
            "SELECT data FROM inline_blobs WHERE key LIKE ?", (f"inline/{upload_key(url)}%",)
        ).fetchone()
    return bytes(row[0]) if row is not None else None


def assert_error(reply: httpx.Response, code: int, status: str, message: str | None = None) -> dict[str, Any]:
    """Google's envelope: ``{"error": {"code", "message", "status"}}``."""
    assert reply.status_code == code, (reply.status_code, reply.text)
    assert reply.headers["content-type"].startswith("application/json")
    error = reply.json()["error"]
    assert error["code"] == code
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    if message is not None:
        assert message in error["message"], error["message"]
    return error
