"""The send timeout (protocol/deadlines.py) on a live server, with raw sockets: a client that takes nothing
of a download is let go and the download's task ends; one that reads slowly but keeps reading is not cut.

The server runs with a 1 s send timeout and downloads of uploaded files allowed.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.protocol.metrics import scrape, value
from tests.support import LiveServer

SEND_TIMEOUT = 1.0
KEY = "send-deadline"
SIZE = 12 * 1024 * 1024  # more than the kernel's send queue (4 MiB here) and the transport's buffer hold
DOWNLOADS = "/download/{version}files/{name}"
PIECE = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "GEMFILES_SEND_TIMEOUT_SECONDS": str(SEND_TIMEOUT),
        "GEMFILES_ALLOW_DOWNLOAD": "true",
        "GEMFILES_LOG_LEVEL": "info",  # the request log's line of each download, with its bytes_out
        "GEMFILES_LOG_FORMAT": "json",
    }
    live = LiveServer(tmp_path_factory.mktemp("send-deadline") / "data", env).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def uploaded(server: LiveServer) -> tuple[str, bytes]:
    data = os.urandom(SIZE)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        start = client.post(
            "/upload/v1beta/files",
            headers={
                "x-goog-api-key": KEY,
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(SIZE),
                "X-Goog-Upload-Header-Content-Type": "application/octet-stream",
            },
        )
        assert start.status_code == 200, start.text
        done = client.post(
            start.headers["x-goog-upload-url"],
            content=data,
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        )
        assert done.status_code == 200, done.text
    return done.json()["file"]["name"], data


def _download(server: LiveServer, name: str) -> socket.socket:
    """A download requested on a socket with a small receive buffer (set before connecting, so the window
    the client offers stays small), nothing of it read yet."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(
        f"GET /download/v1beta/{name}:download?alt=media HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {KEY}\r\n\r\n".encode()
    )
    return sock


def _downloads_answered(server: LiveServer) -> float:
    """Download requests whose task has ended (the request metrics count a request when it ends)."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        samples = scrape(client)
    return value(samples, "gemfiles_http_requests_total", route=DOWNLOADS, method="GET", status="200")


def _download_lines(server: LiveServer) -> list[dict[str, object]]:
    lines = server.log_path.read_text(errors="replace").splitlines()
    return [
        line
        for line in (orjson.loads(text) for text in lines if text.startswith("{"))
        if line.get("route") == DOWNLOADS
    ]


def test_download_the_client_never_reads_is_cut_after_the_send_timeout_and_its_task_ends(
    server: LiveServer, uploaded: tuple[str, bytes]
) -> None:
    name, _ = uploaded
    before = _downloads_answered(server)
    lines_before = len(_download_lines(server))
    with _download(server, name) as sock:
        began = time.monotonic()
        time.sleep(SEND_TIMEOUT * 0.5)
        assert _downloads_answered(server) == before  # the download's task is still writing
        while _downloads_answered(server) == before and time.monotonic() - began < SEND_TIMEOUT + 10:
            time.sleep(0.1)
        waited = time.monotonic() - began
        assert _downloads_answered(server) == before + 1  # its task ended
        received = 0
        with pytest.raises(ConnectionResetError):  # aborted: what the client had not taken is dropped
            while chunk := sock.recv(PIECE):
                received += len(chunk)
    assert SEND_TIMEOUT * 0.8 <= waited < SEND_TIMEOUT + 10
    assert received < SIZE
    line = _download_lines(server)[lines_before]
    assert line["status"] == 200 and int(str(line["bytes_out"])) < SIZE  # the app stopped writing
    with httpx.Client(base_url=server.url, timeout=10) as client:  # the server goes on serving
        assert client.get(f"/v1beta/{name}", headers={"x-goog-api-key": KEY}).status_code == 200
    assert "Traceback" not in server.log() and "unhandled error" not in server.log()


def test_slow_download_that_keeps_reading_is_not_cut_by_the_send_timeout(
    server: LiveServer, uploaded: tuple[str, bytes]
) -> None:
    """Nothing read for 0.7 s (the server stops writing: the file is more than the buffers hold, the test
    above shows it), then 64 KiB every 0.3 s for 4 s, four send timeouts, then the rest at full speed."""
    name, data = uploaded
    with _download(server, name) as sock:
        time.sleep(SEND_TIMEOUT * 0.7)
        raw = b""
        slow_until = time.monotonic() + SEND_TIMEOUT * 4
        while not raw.endswith(data[-PIECE:]):
            chunk = sock.recv(PIECE)
            if not chunk:
                break
            raw += chunk
            if time.monotonic() < slow_until:
                time.sleep(0.3)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert len(body) == SIZE and hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()


def test_settings_reject_a_send_timeout_out_of_range(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from gemfiles.settings import Settings

    for seconds in (0, -1, 3601):
        with pytest.raises(ValidationError):
            Settings(send_timeout_seconds=seconds, data_dir=tmp_path)
    assert Settings(data_dir=tmp_path).send_timeout_seconds == 60
