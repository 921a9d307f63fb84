"""kill -9 in the middle of an upload, restart on the same data directory, resume from `query`."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator

import httpx

from gemfiles.domain.models import PartRef
from gemfiles.storage.localdisk import LocalBlobStore
from tests.protocol.uploading import (
    assert_error,
    get_file,
    list_names,
    new_upload,
    object_dir,
    send,
    sha256_hash,
    upload_dir,
    upload_key,
)
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


def _join_parts_as_a_finalize_would(server: LiveServer, url: str) -> None:
    """What a finalize does before it records the file: the store joins the parts (the real code)."""
    parts = sorted(
        (
            PartRef(number=int(p.name.split(".")[0]), size=p.stat().st_size)
            for p in upload_dir(server.data_dir, url).iterdir()
        ),
        key=lambda part: part.number,
    )
    asyncio.run(LocalBlobStore(server.data_dir / "blobs").complete_upload(upload_key(url), {}, parts))


def test_upload_killed_after_its_parts_were_joined_takes_no_more_bytes_and_finalizes(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    """kill -9 inside a finalize, after the parts were joined and before the file was recorded. The session
    is still active, but its parts are gone from the upload folder: a further chunk is refused (never a 500,
    never a part outside the file), and finalize finishes the file from the joined parts."""
    server = server_factory()
    data = os.urandom(2 * CHUNK)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        url = new_upload(client, api_key, None)  # size undeclared: more chunks are allowed
        assert send(client, url, "upload", data[:CHUNK], 0).status_code == 200
        assert send(client, url, "upload", data[CHUNK:], CHUNK).status_code == 200
    server.kill()
    _join_parts_as_a_finalize_would(server, url)

    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        query = send(client, url, "query")
        assert query.headers["x-goog-upload-status"] == "active"
        assert query.headers["x-goog-upload-size-received"] == str(2 * CHUNK)

        more = send(client, url, "upload", b"more bytes", 2 * CHUNK)
        assert_error(more, 400, "FAILED_PRECONDITION", "send X-Goog-Upload-Command: finalize")
        assert more.headers["x-goog-upload-status"] == "active"
        assert send(client, url, "query").headers["x-goog-upload-size-received"] == str(2 * CHUNK)

        final = send(client, url, "finalize", b"", 2 * CHUNK)
        assert final.status_code == 200, final.text
        file = final.json()["file"]
        assert (file["sizeBytes"], file["sha256Hash"]) == (str(len(data)), sha256_hash(data))
        assert list_names(client, api_key) == [file["name"]]


def test_a_chunk_the_blob_store_cannot_take_is_503_and_can_be_sent_again(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    """The store failing (here: the upload's folder is not a folder any more) is the server's trouble, not
    the client's: 503 UNAVAILABLE, the session unchanged, and the same chunk goes in once the store is back."""
    server = server_factory()
    data = os.urandom(2 * CHUNK + 10)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        url = new_upload(client, api_key, len(data))
        assert send(client, url, "upload", data[:CHUNK], 0).status_code == 200
        folder = upload_dir(server.data_dir, url)
        aside = folder.with_name(folder.name + ".aside")
        folder.rename(aside)
        folder.write_bytes(b"")
        try:
            refused = send(client, url, "upload", data[CHUNK : 2 * CHUNK], CHUNK)
            assert_error(refused, 503, "UNAVAILABLE", "Send it again")
            assert refused.headers["x-goog-upload-status"] == "active"
        finally:
            folder.unlink()
            aside.rename(folder)
        assert send(client, url, "query").headers["x-goog-upload-size-received"] == str(CHUNK)
        assert send(client, url, "upload", data[CHUNK : 2 * CHUNK], CHUNK).status_code == 200
        final = send(client, url, "upload, finalize", data[2 * CHUNK :], 2 * CHUNK)
        assert final.json()["file"]["sha256Hash"] == sha256_hash(data)


def test_a_finalize_the_blob_store_cannot_complete_is_503_and_can_be_sent_again(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    server = server_factory()
    data = os.urandom(2 * CHUNK)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        url = new_upload(client, api_key, len(data))
        assert send(client, url, "upload", data[:CHUNK], 0).status_code == 200
        shelf = object_dir(server.data_dir, url).parent  # where the joined upload goes: not a folder now
        shelf.parent.mkdir(parents=True, exist_ok=True)
        shelf.write_bytes(b"")
        try:
            refused = send(client, url, "upload, finalize", data[CHUNK:], CHUNK)
            assert_error(refused, 503, "UNAVAILABLE", "Send the finalize command again")
            assert refused.headers["x-goog-upload-status"] == "active"
            assert list_names(client, api_key) == []
        finally:
            shelf.unlink()
        query = send(client, url, "query")
        assert query.headers["x-goog-upload-size-received"] == str(len(data))
        final = send(client, url, "finalize", b"", len(data))
        assert final.status_code == 200, final.text
        assert final.json()["file"]["sha256Hash"] == sha256_hash(data)
        assert list_names(client, api_key) == [final.json()["file"]["name"]]
