"""Project quota and per-file maximum: reservations at start, enforced atomically under a race."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.protocol.uploading import (
    START_PATH,
    assert_error,
    list_names,
    new_upload,
    send,
    sha256_hash,
    start_upload,
    upload_all,
    upload_file,
    usage,
)
from tests.support import LiveServer

MIB = 1024 * 1024
QUOTA = 10 * MIB
MAX_FILE = 2 * MIB


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("quota") / "data",
        {
            "GEMFILES_PROJECT_QUOTA_BYTES": str(QUOTA),
            "GEMFILES_MAX_FILE_BYTES": str(MAX_FILE),
            "GEMFILES_EMULATOR_CONTROLS": "true",
        },
    )
    with server:
        yield server


@pytest.fixture
def client(quota_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=quota_server.url, timeout=30) as http:
        yield http


def assert_quota_failure(reply: httpx.Response) -> None:
    error = assert_error(reply, 429, "RESOURCE_EXHAUSTED")
    types = [detail["@type"] for detail in error.get("details", [])]
    assert "type.googleapis.com/google.rpc.QuotaFailure" in types
    failure = next(d for d in error["details"] if d["@type"].endswith("QuotaFailure"))
    assert failure["violations"] and failure["violations"][0]["description"]


async def test_upload_twenty_racing_uploads_exactly_quota_succeed(
    quota_server: LiveServer, api_key: str
) -> None:
    payloads = [os.urandom(MIB) for _ in range(20)]
    peak = 0
    racing = True

    async with httpx.AsyncClient(base_url=quota_server.url, timeout=60) as http:

        async def watch_usage() -> None:
            nonlocal peak
            while racing:
                reply = await http.get("/_internal/usage", headers={"x-goog-api-key": api_key})
                body = reply.json()
                peak = max(peak, int(body["usedBytes"]) + int(body["reservedBytes"]))
                await asyncio.sleep(0.005)

        async def one(data: bytes) -> httpx.Response:
            headers = {
                "x-goog-api-key": api_key,
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(len(data)),
                "X-Goog-Upload-Header-Content-Type": "application/pdf",
            }
            started = await http.post(START_PATH, json={"file": {}}, headers=headers)
            if started.status_code != 200:
                return started
            url = started.headers["x-goog-upload-url"]
            half = len(data) // 2
            first = await http.post(
                url,
                content=data[:half],
                headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"},
            )
            assert first.status_code == 200, first.text
            return await http.post(
                url,
                content=data[half:],
                headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": str(half)},
            )

        watcher = asyncio.create_task(watch_usage())
        replies = await asyncio.gather(*(one(data) for data in payloads))
        racing = False
        await watcher

    done = [(reply, data) for reply, data in zip(replies, payloads, strict=True) if reply.status_code == 200]
    refused = [reply for reply in replies if reply.status_code != 200]
    assert len(done) == 10
    assert len(refused) == 10
    for reply in refused:
        assert_quota_failure(reply)
    for reply, data in done:
        assert reply.headers["x-goog-upload-status"] == "final"
        assert reply.json()["file"]["sha256Hash"] == sha256_hash(data)
    assert peak <= QUOTA
    with httpx.Client(base_url=quota_server.url) as client:
        assert usage(client, api_key) == (QUOTA, 0)
        assert len(list_names(client, api_key, pageSize=100)) == 10
        assert_quota_failure(start_upload(client, api_key, size=1))
        assert start_upload(client, api_key, size=0).status_code == 200  # nothing to reserve


def test_start_upload_over_quota_is_refused_until_a_cancel(client: httpx.Client, api_key: str) -> None:
    urls = [new_upload(client, api_key, MIB) for _ in range(10)]
    assert usage(client, api_key) == (0, QUOTA)
    assert_quota_failure(start_upload(client, api_key, size=MIB))
    assert send(client, urls[0], "cancel").headers["x-goog-upload-status"] == "cancelled"
    assert usage(client, api_key) == (0, QUOTA - MIB)
    data = os.urandom(MIB)
    file = upload_all(client, new_upload(client, api_key, MIB), data, MIB).json()["file"]
    assert file["sha256Hash"] == sha256_hash(data)
    assert usage(client, api_key) == (MIB, QUOTA - MIB)


def test_finalize_refused_mime_type_frees_reservation(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, MIB, mime_type="application/x-unknown")
    assert usage(client, api_key) == (0, MIB)
    refused = send(client, url, "upload, finalize", b"u" * MIB, 0)
    assert_error(refused, 400, "INVALID_ARGUMENT", "Unsupported MIME type: application/x-unknown")
    assert usage(client, api_key) == (0, 0)


def test_delete_file_frees_quota(client: httpx.Client, api_key: str) -> None:
    files = [upload_file(client, api_key, b"q" * (2 * MIB)) for _ in range(5)]
    assert usage(client, api_key) == (QUOTA, 0)
    assert_quota_failure(start_upload(client, api_key, size=1))
    deleted = client.delete(f"/v1beta/{files[0]['name']}", headers={"x-goog-api-key": api_key})
    assert deleted.status_code == 200 and deleted.json() == {}
    assert usage(client, api_key) == (QUOTA - 2 * MIB, 0)
    upload_file(client, api_key, b"r" * MIB)


def test_upload_quota_is_per_project(client: httpx.Client, api_key: str, new_key: Callable[[], str]) -> None:
    for _ in range(5):
        new_upload(client, api_key, 2 * MIB)
    assert_quota_failure(start_upload(client, api_key, size=1))
    assert start_upload(client, new_key(), size=2 * MIB).status_code == 200


def test_upload_undeclared_size_over_quota_is_refused_active(client: httpx.Client, api_key: str) -> None:
    for size in (2 * MIB, 2 * MIB, 2 * MIB, 2 * MIB, MIB):
        new_upload(client, api_key, size)  # 9 MiB of 10 reserved
    url = new_upload(client, api_key, None)
    assert send(client, url, "upload", b"a" * (MIB // 2), 0).status_code == 200
    assert send(client, url, "upload", b"b" * (MIB // 2), MIB // 2).status_code == 200
    assert usage(client, api_key) == (0, QUOTA)
    over = send(client, url, "upload", b"c", MIB)
    assert_quota_failure(over)
    # The refused chunk was not committed; the session goes on from what it holds.
    assert over.headers["x-goog-upload-status"] == "active"
    assert over.headers["x-goog-upload-size-received"] == str(MIB)
    assert usage(client, api_key) == (0, QUOTA)
    file = send(client, url, "finalize").json()["file"]
    assert file["sha256Hash"] == sha256_hash(b"a" * (MIB // 2) + b"b" * (MIB // 2))
    assert usage(client, api_key) == (MIB, QUOTA - MIB)


# the per-file maximum ---------------------------------------------------------------------------------------
def test_start_upload_declared_over_max_file_size_is_refused(client: httpx.Client, api_key: str) -> None:
    assert_error(
        start_upload(client, api_key, size=MAX_FILE + 1), 400, "INVALID_ARGUMENT", "maximum file size"
    )
    body = {"file": {"sizeBytes": str(MAX_FILE + 1)}}
    assert_error(start_upload(client, api_key, body=body), 400, "INVALID_ARGUMENT", "maximum file size")
    assert start_upload(client, api_key, size=MAX_FILE).status_code == 200
    assert usage(client, api_key) == (0, MAX_FILE)


def test_upload_undeclared_size_over_max_file_size_is_refused(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, None)
    assert send(client, url, "upload", b"a" * MIB, 0).status_code == 200
    over = send(client, url, "upload", b"b" * (MIB + 1), MIB)
    assert_error(over, 400, "INVALID_ARGUMENT", "maximum file size")
    assert over.headers["x-goog-upload-status"] == "active"
    assert over.headers["x-goog-upload-size-received"] == str(MIB)
    assert usage(client, api_key) == (0, MIB)
    file = send(client, url, "upload, finalize", b"b" * MIB, MIB).json()["file"]
    assert file["sizeBytes"] == str(MAX_FILE)
    assert file["sha256Hash"] == sha256_hash(b"a" * MIB + b"b" * MIB)
    assert usage(client, api_key) == (MAX_FILE, 0)


def test_upload_streamed_chunk_without_length_over_max_file_size_is_refused(
    client: httpx.Client, api_key: str
) -> None:
    """A chunk of unknown length (chunked transfer encoding) is cut off once it passes the maximum."""
    url = new_upload(client, api_key, None)

    def body() -> Iterator[bytes]:
        for _ in range(3 * MAX_FILE // (64 * 1024)):
            yield b"z" * (64 * 1024)

    try:
        reply = client.post(
            url, content=body(), headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"}
        )
    except httpx.TransportError:
        reply = None  # the server may answer and close before the client has sent everything
    if reply is not None:
        assert_error(reply, 400, "INVALID_ARGUMENT", "maximum file size")
        assert reply.headers["x-goog-upload-status"] == "active"
    query = send(client, url, "query")
    assert query.headers["x-goog-upload-size-received"] == "0"
    assert usage(client, api_key) == (0, 0)
    file = send(client, url, "upload, finalize", b"small", 0).json()["file"]
    assert file["sha256Hash"] == sha256_hash(b"small")
