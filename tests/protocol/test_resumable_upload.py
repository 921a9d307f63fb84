"""The resumable upload state machine, one test per row of WIRE.md 5.4, over raw HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable

import httpx
import pytest

from tests.protocol.uploading import (
    assert_error,
    get_file,
    list_names,
    new_upload,
    send,
    sha256_hash,
    start_upload,
    upload_file,
)
from tests.support import LiveServer


def assert_final_file(reply: httpx.Response, data: bytes) -> dict:
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-goog-upload-status"] == "final"
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"file"}  # the final reply wraps the File (WIRE.md 12.6)
    file = body["file"]
    assert file["sizeBytes"] == str(len(data))
    assert file["sha256Hash"] == sha256_hash(data)
    assert file["state"] == "ACTIVE"
    assert file["source"] == "UPLOADED"
    return file


def assert_stored(client: httpx.Client, key: str, file: dict, data: bytes) -> None:
    """A later get returns the same File with the size and digest of exactly these bytes."""
    reply = get_file(client, key, file["name"])
    assert reply.status_code == 200, reply.text
    assert reply.json() == file
    assert reply.json()["sha256Hash"] == sha256_hash(data)


# start ------------------------------------------------------------------------------------------------
def test_start_upload_returns_absolute_upload_url(
    client: httpx.Client, live_server: LiveServer, api_key: str
) -> None:
    reply = start_upload(client, api_key, size=11)
    assert reply.status_code == 200
    assert reply.content == b""
    assert reply.headers["x-goog-upload-status"] == "active"
    url = reply.headers["x-goog-upload-url"]
    assert url.startswith(f"{live_server.url}/upload/v1beta/files?upload_id=")
    assert url.endswith("&upload_protocol=resumable")
    assert reply.headers["x-goog-upload-control-url"] == url
    assert reply.headers["x-goog-upload-chunk-granularity"] == "8388608"
    assert len(reply.headers.get_list("x-goog-upload-url")) == 1  # sent once: Python joins repeats


def test_start_upload_under_v1_returns_v1_upload_url(client: httpx.Client, api_key: str) -> None:
    reply = client.post(
        "/upload/v1/files",
        json={"file": {"mime_type": "text/plain", "size_bytes": 3}},
        headers={
            "x-goog-api-key": api_key,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
        },
    )
    assert reply.status_code == 200, reply.text
    url = reply.headers["x-goog-upload-url"]
    assert "/upload/v1/files?upload_id=" in url
    assert_final_file(send(client, url, "upload, finalize", b"abc", 0), b"abc")


# upload at offset == N ----------------------------------------------------------------------------------
def test_upload_chunk_at_received_offset_reports_size_received(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 10)
    first = send(client, url, "upload", b"0123", 0)
    assert first.status_code == 200
    assert first.headers["x-goog-upload-status"] == "active"
    assert first.headers["x-goog-upload-size-received"] == "4"
    assert first.content == b""
    second = send(client, url, "upload", b"456", 4)
    assert second.status_code == 200
    assert second.headers["x-goog-upload-size-received"] == "7"


def test_upload_finalize_last_chunk_returns_file(client: httpx.Client, api_key: str) -> None:
    data = b"0123456789"
    url = new_upload(client, api_key, len(data), body={"file": {"displayName": "ten bytes"}})
    assert send(client, url, "upload", data[:4], 0).status_code == 200
    assert send(client, url, "upload", data[4:7], 4).status_code == 200
    file = assert_final_file(send(client, url, "upload, finalize", data[7:], 7), data)
    assert file["displayName"] == "ten bytes"
    assert file["mimeType"] == "text/plain"
    assert file["name"].startswith("files/")
    assert "x-goog-upload-size-received" not in send(client, url, "query").headers
    assert_stored(client, api_key, file, data)


def test_upload_finalize_single_chunk_with_spaces_and_case_in_command(
    client: httpx.Client, api_key: str
) -> None:
    url = new_upload(client, api_key, 5)
    assert_final_file(send(client, url, "Upload ,FINALIZE", b"hello", 0), b"hello")


def test_upload_finalize_empty_file_as_python_sdk_sends_it(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 0)
    file = assert_final_file(send(client, url, "upload, finalize", b"", 0), b"")
    assert file["sizeBytes"] == "0"
    assert_stored(client, api_key, file, b"")


def test_finalize_without_bytes_when_all_received_returns_file(client: httpx.Client, api_key: str) -> None:
    data = b"abcdef"
    url = new_upload(client, api_key, len(data))
    reply = send(client, url, "upload", data, 0)
    assert reply.headers["x-goog-upload-status"] == "active"
    assert reply.headers["x-goog-upload-size-received"] == "6"
    file = assert_final_file(send(client, url, "finalize"), data)
    assert_stored(client, api_key, file, data)


# offset != N ------------------------------------------------------------------------------------------------
def test_upload_chunk_at_wrong_offset_is_refused_and_data_kept(client: httpx.Client, api_key: str) -> None:
    data = b"abcdefghi"
    url = new_upload(client, api_key, len(data))
    assert send(client, url, "upload", data[:3], 0).status_code == 200
    for offset in (5, 2, 1, 4):
        reply = send(client, url, "upload", b"zzz", offset)
        assert_error(reply, 400, "INVALID_ARGUMENT")
        assert reply.headers["x-goog-upload-status"] == "active"
        assert reply.headers["x-goog-upload-size-received"] == "3"
    ahead = send(client, url, "upload, finalize", data[6:], 6)
    assert_error(ahead, 400, "INVALID_ARGUMENT")
    assert ahead.headers["x-goog-upload-status"] == "active"
    assert ahead.headers["x-goog-upload-size-received"] == "3"
    query = send(client, url, "query")
    assert query.headers["x-goog-upload-size-received"] == "3"
    assert send(client, url, "upload", data[3:6], 3).headers["x-goog-upload-size-received"] == "6"
    file = assert_final_file(send(client, url, "upload, finalize", data[6:], 6), data)
    assert_stored(client, api_key, file, data)


# finalize with N + L != T -----------------------------------------------------------------------------------
def test_finalize_short_of_declared_size_is_refused_active(client: httpx.Client, api_key: str) -> None:
    data = b"0123456789"
    url = new_upload(client, api_key, len(data))
    short = send(client, url, "upload, finalize", data[:5], 0)
    assert_error(short, 400, "INVALID_ARGUMENT", "declared 10")
    assert short.headers["x-goog-upload-status"] == "active"
    # The bytes of the refused finalize are kept: the client learns where to go on from.
    assert short.headers["x-goog-upload-size-received"] == "5"
    bare = send(client, url, "finalize")
    assert_error(bare, 400, "INVALID_ARGUMENT")
    assert bare.headers["x-goog-upload-status"] == "active"
    assert bare.headers["x-goog-upload-size-received"] == "5"
    assert list_names(client, api_key) == []
    file = assert_final_file(send(client, url, "upload, finalize", data[5:], 5), data)
    assert_stored(client, api_key, file, data)


def test_upload_past_declared_size_is_refused_active(client: httpx.Client, api_key: str) -> None:
    data = b"0123456789"
    url = new_upload(client, api_key, len(data))
    assert send(client, url, "upload", data[:4], 0).status_code == 200
    over = send(client, url, "upload, finalize", data[4:] + b"xy", 4)
    assert_error(over, 400, "INVALID_ARGUMENT", "declared")
    assert over.headers["x-goog-upload-status"] == "active"
    assert over.headers["x-goog-upload-size-received"] == "4"
    over_chunk = send(client, url, "upload", data[4:] + b"xy", 4)
    assert over_chunk.status_code == 400
    assert over_chunk.headers["x-goog-upload-size-received"] == "4"
    file = assert_final_file(send(client, url, "upload, finalize", data[4:], 4), data)
    assert_stored(client, api_key, file, data)


# content refused at finalize --------------------------------------------------------------------------------
def test_finalize_unsupported_mime_type_fails_session(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 4, mime_type="bad/mime_type")
    assert send(client, url, "upload", b"ab", 0).status_code == 200  # accepted until finalize, as Google does
    reply = send(client, url, "upload, finalize", b"cd", 2)
    assert reply.json() == {
        "error": {
            "code": 400,
            "message": "Unsupported MIME type: bad/mime_type",
            "status": "INVALID_ARGUMENT",
        }
    }
    assert reply.headers["x-goog-upload-status"] == "final"
    # The session stays failed: every later request replays the same refusal.
    for command, data, offset in (
        ("query", b"", None),
        ("upload, finalize", b"cd", 2),
        ("finalize", b"", None),
    ):
        again = send(client, url, command, data, offset)
        assert_error(again, 400, "INVALID_ARGUMENT", "Unsupported MIME type: bad/mime_type")
        assert again.headers["x-goog-upload-status"] == "final"
    assert list_names(client, api_key) == []


# query ------------------------------------------------------------------------------------------------------
def test_query_active_session_reports_size_received(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 8)
    fresh = send(client, url, "query")
    assert fresh.status_code == 200
    assert fresh.headers["x-goog-upload-status"] == "active"
    assert fresh.headers["x-goog-upload-size-received"] == "0"
    send(client, url, "upload", b"1234", 0)
    later = send(client, url, "query")
    assert later.headers["x-goog-upload-status"] == "active"
    assert later.headers["x-goog-upload-size-received"] == "4"


def test_query_final_session_returns_file(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 4)
    file = assert_final_file(send(client, url, "upload, finalize", b"data", 0), b"data")
    reply = send(client, url, "query")
    assert reply.status_code == 200
    assert reply.headers["x-goog-upload-status"] == "final"
    assert reply.json() == {"file": file}


# cancel -----------------------------------------------------------------------------------------------------
def test_cancel_active_session_refuses_later_requests(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 8)
    send(client, url, "upload", b"1234", 0)
    reply = send(client, url, "cancel")
    assert reply.status_code == 200
    assert reply.headers["x-goog-upload-status"] == "cancelled"
    for command, data, offset in (
        ("query", b"", None),
        ("upload", b"5678", 4),
        ("upload, finalize", b"5678", 4),
        ("finalize", b"", None),
        ("cancel", b"", None),
    ):
        later = send(client, url, command, data, offset)
        assert 400 <= later.status_code < 500, (command, later.status_code)
        assert later.headers["x-goog-upload-status"] == "cancelled"
        assert later.json()["error"]["code"] == later.status_code
    assert list_names(client, api_key) == []


def test_cancel_final_session_is_refused(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 2)
    file = assert_final_file(send(client, url, "upload, finalize", b"ok", 0), b"ok")
    reply = send(client, url, "cancel")
    assert 400 <= reply.status_code < 500
    assert reply.headers["x-goog-upload-status"] == "final"
    assert_stored(client, api_key, file, b"ok")


# after final ------------------------------------------------------------------------------------------------
def test_upload_after_final_same_last_chunk_replays_final_reply(client: httpx.Client, api_key: str) -> None:
    data = b"first-second"
    url = new_upload(client, api_key, len(data))
    send(client, url, "upload", data[:6], 0)
    file = assert_final_file(send(client, url, "upload, finalize", data[6:], 6), data)
    again = send(client, url, "upload, finalize", data[6:], 6)  # the client lost the reply and retried
    assert again.status_code == 200
    assert again.headers["x-goog-upload-status"] == "final"
    assert again.json() == {"file": file}
    bare = send(client, url, "finalize")
    assert bare.status_code == 200
    assert bare.json() == {"file": file}
    assert list_names(client, api_key) == [file["name"]]


def test_upload_after_final_different_bytes_is_refused(client: httpx.Client, api_key: str) -> None:
    data = b"first-second"
    url = new_upload(client, api_key, len(data))
    send(client, url, "upload", data[:6], 0)
    file = assert_final_file(send(client, url, "upload, finalize", data[6:], 6), data)
    for command, chunk, offset in (
        ("upload, finalize", b"SECOND", 6),
        ("upload", b"more", 12),
        ("upload, finalize", b"first-", 0),
        ("upload", data[6:], 6),
    ):
        reply = send(client, url, command, chunk, offset)
        if command == "upload" and chunk == data[6:]:
            # The same bytes again without finalize: still a replay of where the upload stands.
            assert reply.status_code == 200
            assert reply.headers["x-goog-upload-status"] == "final"
            continue
        assert 400 <= reply.status_code < 500, (command, offset, reply.status_code)
        assert reply.headers["x-goog-upload-status"] == "final"
    assert_stored(client, api_key, file, data)


# unknown upload ids -----------------------------------------------------------------------------------------
def test_upload_unknown_upload_id_returns_404_with_status(client: httpx.Client) -> None:
    for upload_id in ("nope", "", "A" * 43, "%00%ff", "../../etc/passwd", "x" * 5000):
        for command in ("query", "upload", "upload, finalize", "cancel"):
            reply = send(
                client,
                f"/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable",
                command,
                b"x",
                0,
            )
            assert_error(reply, 404, "NOT_FOUND")
            assert reply.headers["x-goog-upload-status"] not in ("", "active")


# a chunk re-sent after a lost reply -------------------------------------------------------------------------
def test_upload_resent_chunk_after_lost_reply_is_idempotent(client: httpx.Client, api_key: str) -> None:
    data = b"aaaa" + b"bbbb" + b"cc"
    url = new_upload(client, api_key, len(data))
    send(client, url, "upload", data[:4], 0)
    send(client, url, "upload", data[4:8], 4)
    again = send(client, url, "upload", data[4:8], 4)
    assert again.status_code == 200
    assert again.headers["x-goog-upload-status"] == "active"
    assert again.headers["x-goog-upload-size-received"] == "8"
    file = assert_final_file(send(client, url, "upload, finalize", data[8:], 8), data)
    assert_stored(client, api_key, file, data)


def test_upload_resent_chunk_with_different_bytes_is_refused(client: httpx.Client, api_key: str) -> None:
    data = b"aaaa" + b"bbbb" + b"cc"
    url = new_upload(client, api_key, len(data))
    send(client, url, "upload", data[:4], 0)
    send(client, url, "upload", data[4:8], 4)
    for chunk in (b"BBBB", b"bbb", b"bbbbb", b""):
        reply = send(client, url, "upload", chunk, 4)
        assert_error(reply, 400, "INVALID_ARGUMENT")
        assert reply.headers["x-goog-upload-status"] == "active"
        assert reply.headers["x-goog-upload-size-received"] == "8"
    file = assert_final_file(send(client, url, "upload, finalize", data[8:], 8), data)
    assert_stored(client, api_key, file, data)


def test_upload_finalize_resent_last_chunk_finalizes_once(client: httpx.Client, api_key: str) -> None:
    """The last chunk went up as a plain ``upload``; re-sending it with ``finalize`` is not counted twice."""
    data = b"0123456789"
    url = new_upload(client, api_key, len(data))
    send(client, url, "upload", data[:5], 0)
    send(client, url, "upload", data[5:], 5)
    again = send(client, url, "upload, finalize", data[5:], 5)
    file = assert_final_file(again, data)
    assert_stored(client, api_key, file, data)


# credentials ------------------------------------------------------------------------------------------------
def test_upload_chunks_without_api_key_are_accepted(client: httpx.Client, api_key: str) -> None:
    data = b"x" * 300
    file = upload_file(client, api_key, data, chunk=128)  # `send` never adds a key unless told to
    assert_stored(client, api_key, file, data)


def test_upload_chunks_with_owner_key_are_accepted(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 6)
    assert send(client, url, "upload", b"abc", 0, key=api_key).status_code == 200
    file = assert_final_file(send(client, url, "upload, finalize", b"def", 3, key=api_key), b"abcdef")
    assert_stored(client, api_key, file, b"abcdef")


def test_upload_url_with_other_project_key_is_refused(
    client: httpx.Client, api_key: str, new_key: Callable[[], str]
) -> None:
    other = new_key()
    url = new_upload(client, api_key, 6)
    send(client, url, "upload", b"abc", 0)
    for command, chunk, offset in (("query", b"", None), ("upload", b"def", 3), ("cancel", b"", None)):
        reply = send(client, url, command, chunk, offset, key=other)
        assert 400 <= reply.status_code < 500
        assert reply.headers["x-goog-upload-status"] != "active"
        assert "x-goog-upload-size-received" not in reply.headers
    # The owner's session is untouched.
    assert send(client, url, "query").headers["x-goog-upload-size-received"] == "3"
    file = assert_final_file(send(client, url, "upload, finalize", b"def", 3), b"abcdef")
    assert get_file(client, other, file["name"]).status_code == 403
    assert list_names(client, other) == []


def test_upload_large_multi_chunk_file_keeps_sha256(client: httpx.Client, api_key: str) -> None:
    data = hashlib.sha256(b"seed").digest() * (3 * 32768 + 7)  # ~3 MiB, not a multiple of the chunk
    file = upload_file(client, api_key, data, chunk=1 << 20)
    assert file["sizeBytes"] == str(len(data))
    assert_stored(client, api_key, file, data)


# racing requests on one session ------------------------------------------------------------------------
async def test_upload_same_chunk_twice_at_once_commits_it_once(live_server: LiveServer, api_key: str) -> None:
    data = os.urandom(3 * 1024 * 1024)
    with httpx.Client(base_url=live_server.url) as client:
        url = new_upload(client, api_key, len(data) + 1)
    headers = {"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"}
    async with httpx.AsyncClient(timeout=30) as http:
        replies = await asyncio.gather(*(http.post(url, content=data, headers=headers) for _ in range(3)))
        for reply in replies:
            assert reply.status_code == 200, reply.text
            assert reply.headers["x-goog-upload-size-received"] == str(len(data))
        final = await http.post(
            url,
            content=b"!",
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": str(len(data))},
        )
    assert final.json()["file"]["sha256Hash"] == sha256_hash(data + b"!")


async def test_upload_finalize_same_last_chunk_twice_at_once_gives_one_file(
    live_server: LiveServer, api_key: str
) -> None:
    """A client that retries the last chunk while its first attempt is still being finalized."""
    data = os.urandom(2 * 1024 * 1024)
    with httpx.Client(base_url=live_server.url) as client:
        url = new_upload(client, api_key, 1 + len(data))
        send(client, url, "upload", b"<", 0)
    headers = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "1"}
    async with httpx.AsyncClient(timeout=30) as http:
        replies = await asyncio.gather(*(http.post(url, content=data, headers=headers) for _ in range(4)))
    files = []
    for reply in replies:
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-goog-upload-status"] == "final"
        files.append(reply.json()["file"])
    assert all(file["name"] == files[0]["name"] for file in files)
    assert files[0]["sha256Hash"] == sha256_hash(b"<" + data)
    with httpx.Client(base_url=live_server.url) as client:
        assert list_names(client, api_key) == [files[0]["name"]]
        assert_stored(client, api_key, files[0], b"<" + data)


async def test_upload_different_chunks_at_once_at_same_offset_keeps_one(
    live_server: LiveServer, api_key: str
) -> None:
    chunks = [bytes([n]) * (2 * 1024 * 1024) for n in range(3)]
    with httpx.Client(base_url=live_server.url) as client:
        url = new_upload(client, api_key, len(chunks[0]))
    headers = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
    async with httpx.AsyncClient(timeout=30) as http:
        replies = await asyncio.gather(*(http.post(url, content=chunk, headers=headers) for chunk in chunks))
    won = [(reply, chunk) for reply, chunk in zip(replies, chunks, strict=True) if reply.status_code == 200]
    assert len(won) == 1
    for reply in replies:
        assert "x-goog-upload-status" in reply.headers
        assert reply.status_code in (200, 400), reply.text
    winner_reply, winner = won[0]
    file = winner_reply.json()["file"]
    assert file["sha256Hash"] == sha256_hash(winner)
    with httpx.Client(base_url=live_server.url) as client:
        assert_stored(client, api_key, file, winner)


def test_finalize_same_custom_name_twice_refuses_second(client: httpx.Client, api_key: str) -> None:
    body = {"file": {"name": "files/twice"}}
    first = new_upload(client, api_key, 1, body=body)
    second = new_upload(client, api_key, 1, body=body)  # no file of that name exists yet: both start
    file = assert_final_file(send(client, first, "upload, finalize", b"1", 0), b"1")
    clash = send(client, second, "upload, finalize", b"2", 0)
    assert_error(clash, 409, "ALREADY_EXISTS")
    assert clash.headers["x-goog-upload-status"] == "final"
    again = send(client, second, "query")
    assert_error(again, 409, "ALREADY_EXISTS")
    assert again.headers["x-goog-upload-status"] == "final"
    assert_stored(client, api_key, file, b"1")


@pytest.mark.parametrize("version", ["v1", "v1alpha", None])
def test_upload_under_every_api_version_completes(
    client: httpx.Client, api_key: str, version: str | None
) -> None:
    prefix = f"/upload/{version}/files" if version else "/upload/files"
    reply = client.post(
        prefix,
        json={"file": {"mimeType": "text/plain", "sizeBytes": "2"}},
        headers={
            "x-goog-api-key": api_key,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
        },
    )
    assert reply.status_code == 200, reply.text
    url = reply.headers["x-goog-upload-url"]
    assert f"{prefix}?upload_id=" in url
    file = assert_final_file(send(client, url, "upload, finalize", b"ok", 0), b"ok")
    assert_stored(client, api_key, file, b"ok")


def test_finalize_empty_file_without_upload_command(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 0)
    file = assert_final_file(send(client, url, "finalize"), b"")
    assert_stored(client, api_key, file, b"")
