"""Server-side read deadlines (protocol/deadlines.py) on a live server, with raw sockets.

The server runs with a 1 s head timeout and a 1 s body idle timeout, so each test lasts a few seconds.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support import LiveServer

HEAD_TIMEOUT = 1.0
BODY_IDLE_TIMEOUT = 1.0
KEY = "read-deadlines"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "GEMFILES_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
        "GEMFILES_BODY_IDLE_TIMEOUT_SECONDS": str(BODY_IDLE_TIMEOUT),
    }
    live = LiveServer(tmp_path_factory.mktemp("deadlines") / "data", env).start()
    yield live
    live.stop()


def _connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _wait_until_closed(sock: socket.socket) -> tuple[float, bytes]:
    """Seconds until the server closed the connection, and what it sent before."""
    began = time.monotonic()
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return time.monotonic() - began, received


def _response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _start_session(server: LiveServer, size: int) -> str:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        reply = client.post(
            "/upload/v1beta/files",
            headers={
                "x-goog-api-key": KEY,
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(size),
                "X-Goog-Upload-Header-Content-Type": "application/octet-stream",
            },
        )
        assert reply.status_code == 200, reply.text
        return "/upload" + reply.headers["x-goog-upload-url"].split("/upload", 1)[1]


def _chunk_head(path: str, offset: int, length: int, command: str = "upload") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nX-Goog-Upload-Command: {command}\r\n"
        f"X-Goog-Upload-Offset: {offset}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_server_closes_a_connection_that_stops_in_the_middle_of_its_head(server: LiveServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /v1beta/files HTTP/1.1\r\nHost: x\r\nx-goog-api-key: slo")
        waited, raw = _wait_until_closed(sock)
    assert HEAD_TIMEOUT * 0.8 <= waited < HEAD_TIMEOUT + 3
    status, headers, body = _response(raw)
    assert status == 408 and headers["connection"] == "close"
    assert orjson.loads(body)["error"]["status"] == "DEADLINE_EXCEEDED"
    assert orjson.loads(body)["error"]["code"] == 408


def test_server_closes_a_connection_that_never_sends_a_byte_without_a_reply(server: LiveServer) -> None:
    with _connect(server) as sock:
        waited, raw = _wait_until_closed(sock)
    assert HEAD_TIMEOUT * 0.8 <= waited < HEAD_TIMEOUT + 3
    assert raw == b""


def test_kept_alive_connection_idles_past_the_head_timeout_and_serves_its_next_request(
    server: LiveServer,
) -> None:
    """Waiting for a kept-alive connection's next request is uvicorn's keep-alive timeout (30 s), as before;
    the head timeout starts at that request's first byte."""
    request = f"GET /v1beta/files HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {KEY}\r\n\r\n".encode()
    with _connect(server) as sock:
        for _ in range(2):
            sock.sendall(request)
            reply = http.client.HTTPResponse(sock)
            reply.begin()
            assert reply.status == 200
            reply.read()
            time.sleep(HEAD_TIMEOUT * 2.5)


def test_kept_alive_request_that_stops_in_its_head_is_closed_after_the_head_timeout(
    server: LiveServer,
) -> None:
    with _connect(server) as sock:
        sock.sendall(f"GET /v1beta/files HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {KEY}\r\n\r\n".encode())
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        reply.read()
        time.sleep(HEAD_TIMEOUT * 1.5)
        sock.sendall(b"GET /v1beta/files HTTP/1.1\r\nHo")
        waited, raw = _wait_until_closed(sock)
    assert HEAD_TIMEOUT * 0.8 <= waited < HEAD_TIMEOUT + 3
    assert _response(raw)[0] == 408


def test_chunk_stalled_mid_body_is_answered_408_and_the_session_resumes_from_its_last_offset(
    server: LiveServer,
) -> None:
    data = os.urandom(3 * 256 * 1024)
    first = 256 * 1024
    path = _start_session(server, len(data))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        sent = client.post(
            path,
            content=data[:first],
            headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"},
        )
        assert sent.status_code == 200 and sent.headers["x-goog-upload-status"] == "active"
        with _connect(server) as sock:
            sock.sendall(_chunk_head(path, first, len(data) - first) + data[first : first + 100_000])
            waited, raw = _wait_until_closed(sock)
        assert BODY_IDLE_TIMEOUT * 0.8 <= waited < BODY_IDLE_TIMEOUT + 3
        status, headers, body = _response(raw)
        assert status == 408 and headers["x-goog-upload-status"] == "active"
        assert headers["connection"] == "close"
        error = orjson.loads(body)["error"]
        assert error["code"] == 408 and error["status"] == "DEADLINE_EXCEEDED"

        query = client.post(path, headers={"X-Goog-Upload-Command": "query"})
        assert query.headers["x-goog-upload-status"] == "active"
        assert query.headers["x-goog-upload-size-received"] == str(first)  # nothing of the stalled chunk

        done = client.post(
            path,
            content=data[first:],
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": str(first)},
        )
        assert done.status_code == 200, done.text
        file = done.json()["file"]
        assert int(file["sizeBytes"]) == len(data)
    assert base64.b64decode(file["sha256Hash"]).decode() == hashlib.sha256(data).hexdigest()


def test_json_body_stalled_mid_way_is_answered_408_without_an_upload_status(server: LiveServer) -> None:
    body = b'{"contents": [{"parts": [{"text": "hello"}]}]}'
    head = (
        f"POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nHost: x\r\n"
        f"x-goog-api-key: {KEY}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(server) as sock:
        sock.sendall(head + body[:10])
        waited, raw = _wait_until_closed(sock)
    assert BODY_IDLE_TIMEOUT * 0.8 <= waited < BODY_IDLE_TIMEOUT + 3
    status, headers, _ = _response(raw)
    assert status == 408 and "x-goog-upload-status" not in headers
    time.sleep(0.2)  # the application's side of it: an ordinary refusal, not an unhandled error
    assert "Traceback" not in server.log() and "unhandled error" not in server.log()


def test_slow_body_that_keeps_moving_is_not_cut_by_the_idle_timeout(server: LiveServer) -> None:
    """Bytes every 0.4 s for about 3 s, three times the 1 s idle timeout in all: the upload completes."""
    pieces = [os.urandom(10_000) for _ in range(8)]
    data = b"".join(pieces)
    path = _start_session(server, len(data))
    began = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(_chunk_head(path, 0, len(data), "upload, finalize"))
        for piece in pieces:
            time.sleep(0.4)
            sock.sendall(piece)
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        payload = reply.read()
    assert time.monotonic() - began > BODY_IDLE_TIMEOUT * 2.5
    assert reply.status == 200, payload
    assert int(orjson.loads(payload)["file"]["sizeBytes"]) == len(data)


def test_settings_reject_a_zero_timeout(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from gemfiles.settings import Settings

    with pytest.raises(ValidationError):
        Settings(header_timeout_seconds=0, data_dir=tmp_path)
    with pytest.raises(ValidationError):
        Settings(body_idle_timeout_seconds=0, data_dir=tmp_path)
