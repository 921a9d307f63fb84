"""kill -9 in the middle of an upload, restart on the same data directory, resume from `query`."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import httpx

from tests.protocol.uploading import get_file, list_names, new_upload, send, sha256_hash, upload_dir
from tests.support import LiveServer

CHUNK = 256 * 1024
SLICE = 16 * 1024


def stream_until_killed(
    url: str, offset: int, chunk: bytes, sent_enough: threading.Event
) -> threading.Thread:
    """POSTs ``chunk`` from a slow generator that stalls halfway until the server is gone."""
    release = threading.Event()

    def body() -> Iterator[bytes]:
        half = len(chunk) // 2
        for start in range(0, half, SLICE):
            yield chunk[start : start + SLICE]
        sent_enough.set()
        release.wait(20)  # the test kills the server meanwhile; the rest never arrives
        for start in range(half, len(chunk), SLICE):
            yield chunk[start : start + SLICE]

    def post() -> None:
        headers = {
            "X-Goog-Upload-Command": "upload",
            "X-Goog-Upload-Offset": str(offset),
            "Content-Length": str(len(chunk)),
        }
        try:
            httpx.post(url, content=body(), headers=headers, timeout=30)
        except httpx.HTTPError:
            pass

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    thread.release = release  # type: ignore[attr-defined]
    return thread


def test_upload_killed_mid_chunk_resumes_from_query(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    server = server_factory()
    big = 3 * 1024 * 1024  # half of it is past the server's 1 MiB write block: some of it reaches the disk
    data = os.urandom(2 * CHUNK + big + 1000)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        url = new_upload(client, api_key, len(data))
        assert send(client, url, "upload", data[:CHUNK], 0).status_code == 200
        assert send(client, url, "upload", data[CHUNK : 2 * CHUNK], CHUNK).status_code == 200

        parts = upload_dir(server.data_dir, url)
        committed = {entry.name for entry in parts.iterdir()}
        sent_enough = threading.Event()
        writer = stream_until_killed(url, 2 * CHUNK, data[2 * CHUNK : 2 * CHUNK + big], sent_enough)
        assert sent_enough.wait(10)
        deadline = time.monotonic() + 10
        while not any(p.stat().st_size for p in parts.iterdir() if p.name not in committed):
            assert time.monotonic() < deadline, "the interrupted chunk never reached the disk"
            time.sleep(0.02)
        server.kill()
        writer.release.set()  # type: ignore[attr-defined]
        writer.join(10)

    server.start()  # same data dir, same port: the upload URL stays valid
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert list_names(client, api_key) == []  # no half file is ever listed
        query = send(client, url, "query")
        assert query.status_code == 200
        assert query.headers["x-goog-upload-status"] == "active"
        received = int(query.headers["x-goog-upload-size-received"])
        assert received == 2 * CHUNK  # committed chunks only, none of the interrupted one
        assert list_names(client, api_key) == []
        resumed = send(client, url, "upload", data[received : received + big], received)
        assert resumed.headers["x-goog-upload-size-received"] == str(received + big)
        final = send(client, url, "upload, finalize", data[received + big :], received + big)
        assert final.status_code == 200, final.text
        file = final.json()["file"]
        assert file["sizeBytes"] == str(len(data))
        assert file["sha256Hash"] == sha256_hash(data)
        assert list_names(client, api_key) == [file["name"]]
        assert get_file(client, api_key, file["name"]).json()["sha256Hash"] == sha256_hash(data)


def test_upload_killed_between_requests_keeps_files_and_sessions(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    """kill -9 right after a finalize reply, and right after a chunk's reply (which the client then lost)."""
    server = server_factory()
    finished = os.urandom(CHUNK + 17)
    pending = os.urandom(2 * CHUNK + 5)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        pending_url = new_upload(client, api_key, len(pending))
        send(client, pending_url, "upload", pending[:CHUNK], 0)
        send(client, pending_url, "upload", pending[CHUNK : 2 * CHUNK], CHUNK)
        url = new_upload(client, api_key, len(finished))
        send(client, url, "upload", finished[:CHUNK], 0)
        final = send(client, url, "upload, finalize", finished[CHUNK:], CHUNK)
        assert final.status_code == 200, final.text
        file = final.json()["file"]
    server.kill()

    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert list_names(client, api_key) == [file["name"]]
        stored = get_file(client, api_key, file["name"])
        assert stored.status_code == 200
        assert stored.json()["sha256Hash"] == sha256_hash(finished)
        assert stored.json()["sizeBytes"] == str(len(finished))
        again = send(client, url, "query")
        assert again.headers["x-goog-upload-status"] == "final"
        assert again.json()["file"]["name"] == file["name"]

        # The client never saw the reply to the second chunk and sends it again.
        resent = send(client, pending_url, "upload", pending[CHUNK : 2 * CHUNK], CHUNK)
        assert resent.status_code == 200
        assert resent.headers["x-goog-upload-size-received"] == str(2 * CHUNK)
        done = send(client, pending_url, "upload, finalize", pending[2 * CHUNK :], 2 * CHUNK)
        assert done.json()["file"]["sha256Hash"] == sha256_hash(pending)
        assert len(list_names(client, api_key)) == 2
