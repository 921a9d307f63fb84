"""One JSON line per request, with a request id also returned as X-Request-Id; never a key or upload id."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.protocol.uploading import new_upload, upload_all
from tests.support import LiveServer

FIELDS = {"request_id", "project", "route", "method", "status", "bytes_in", "bytes_out", "duration_ms"}


def request_lines(server: LiveServer, last_id: str) -> list[dict[str, Any]]:
    """The server's request lines, once the one of request ``last_id`` is written (as its request ends)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [
            json.loads(line)
            for line in server.log_path.read_text().splitlines()
            if line.startswith("{") and '"gemfiles.access"' in line
        ]
        if any(line["request_id"] == last_id for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_each_request_logs_one_json_line_without_secrets(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(GEMFILES_LOG_LEVEL="info", GEMFILES_LOG_FORMAT="json")
    key = f"secret-key-{uuid.uuid4().hex}"
    data = b"log me" * 500
    with httpx.Client(base_url=server.url, timeout=30) as client:
        url = new_upload(client, key, len(data))
        upload_id = parse_qs(urlsplit(url).query)["upload_id"][0]
        final = upload_all(client, url, data, 1024)
        name = final.json()["file"]["name"]
        got = client.get(f"/v1beta/{name}", params={"key": key}, headers={"x-request-id": "client-id-42"})
        unsafe = client.get(
            f"/v1beta/{name}", headers={"x-goog-api-key": key, "x-request-id": "bad id {}<script>"}
        )
    assert got.headers["x-request-id"] == "client-id-42"
    assert unsafe.headers["x-request-id"] != "bad id {}<script>" and len(unsafe.headers["x-request-id"]) == 32
    chunks = -(-len(data) // 1024)
    lines = request_lines(server, unsafe.headers["x-request-id"])
    assert len([line for line in lines if line["route"] != "/_internal/healthz"]) == 1 + chunks + 2
    for line in lines:
        assert FIELDS <= set(line), line
        assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    uploads = [line for line in lines if line["route"] == "/upload/{version}files"]
    assert sum(line["bytes_in"] for line in uploads) >= len(data)
    (mine,) = [line for line in lines if line["request_id"] == "client-id-42"]
    assert mine["route"] == "/{version}files/{name}" and mine["method"] == "GET" and mine["status"] == 200
    assert mine["project"] and mine["project"].startswith("k") and mine["bytes_out"] == len(got.content)
    assert unsafe.headers["x-request-id"] in {line["request_id"] for line in lines}
    text = server.log_path.read_text()
    assert key not in text
    assert upload_id not in text


def test_text_format_is_one_readable_line_per_request(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(GEMFILES_LOG_LEVEL="info", GEMFILES_LOG_FORMAT="text")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        reply = client.get("/v1beta/files", headers={"x-goog-api-key": "text-log-key"})
    rid = reply.headers["x-request-id"]
    deadline = time.monotonic() + 10
    while rid not in server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    (line,) = [line for line in server.log_path.read_text().splitlines() if rid in line]
    assert "gemfiles.access: GET /{version}files 200" in line and not line.startswith("{")


def test_access_log_off_writes_no_request_lines(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(GEMFILES_LOG_LEVEL="info", GEMFILES_ACCESS_LOG="false")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        reply = client.get("/v1beta/files", headers={"x-goog-api-key": "quiet"})
    assert reply.status_code == 200 and reply.headers["x-request-id"]
    time.sleep(0.2)
    assert "gemfiles.access" not in server.log_path.read_text()
