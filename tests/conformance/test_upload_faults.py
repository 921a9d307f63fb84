"""Upload and processing faults (issue 9, section 3), driven by the SDKs' own upload code.

A test plans faults for its project through ``PUT /_internal/faults`` and then uploads with
``client.files.upload`` (Python) or ``ai.files.upload`` (JS, through node). Each test pins what the SDK does
with the failure Google's service would produce: retry and succeed (the stored bytes are then checked by
SHA-256), or surface the error.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import time
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.conformance.test_js_sdk import NODE, run_script
from tests.support import LiveServer

SIZE = 20_000_000  # three chunks of the SDKs' 8 MiB: 8388608 + 8388608 + 3222784
CHUNK = 8 * 1024 * 1024

needs_node = pytest.mark.skipif(NODE is None, reason="node is not on PATH: the JS SDK tests need Node.js")


def plan(http: httpx.Client, *faults: dict[str, Any]) -> None:
    reply = http.put("/_internal/faults", json={"faults": list(faults)})
    assert reply.status_code == 200, reply.text


def fired(http: httpx.Client) -> list[int]:
    return http.get("/_internal/faults").json()["fired"]


def data(size: int = SIZE) -> bytes:
    return random.Random(size).randbytes(size)


def upload(client: genai.Client, payload: bytes, mime_type: str = "application/pdf") -> types.File:
    return client.files.upload(file=io.BytesIO(payload), config={"mime_type": mime_type})


def stored_sha256(file: dict[str, Any] | types.File) -> str:
    field = file["sha256Hash"] if isinstance(file, dict) else file.sha256_hash
    assert field is not None
    return base64.b64decode(field).decode()


def listed(http: httpx.Client) -> list[dict[str, Any]]:
    return http.get("/v1beta/files").json().get("files", [])


def wait_for_state(http: httpx.Client, name: str, state: str, seconds: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        file = http.get(f"/v1beta/{name}").json()
        if file["state"] == state or time.monotonic() > deadline:
            assert file["state"] == state, file
            return file
        time.sleep(0.1)


# 503 on the n-th chunk ------------------------------------------------------------------------------
def test_python_sdk_surfaces_chunk_unavailable_and_nothing_is_stored(
    client: genai.Client, http: httpx.Client
) -> None:
    plan(http, {"kind": "chunk_unavailable", "nth": 2})
    # The SDK takes any reply with X-Goog-Upload-Status (the 503 has "active") for an accepted chunk and
    # moves on: the last chunk goes to an offset the server never reached, is refused with "active", and
    # the SDK gives up with its own ValueError (Google's service answers the same way).
    with pytest.raises(
        ValueError, match="All content has been uploaded, but the upload status is not finalized"
    ):
        upload(client, data())
    assert fired(http) == [1]
    assert listed(http) == []


def test_chunk_unavailable_leaves_the_session_where_it_was(http: httpx.Client) -> None:
    plan(http, {"kind": "chunk_unavailable", "nth": 2})
    payload = data(3 * 1024)
    url = start_upload(http, len(payload))
    first = http.post(url, content=payload[:1024], headers=chunk_headers("upload", 0))
    assert first.headers["x-goog-upload-status"] == "active"
    failed = http.post(url, content=payload[1024:2048], headers=chunk_headers("upload", 1024))
    assert failed.status_code == 503
    assert failed.json()["error"]["status"] == "UNAVAILABLE"
    assert failed.headers["x-goog-upload-status"] == "active"
    assert query(http, url).headers["x-goog-upload-size-received"] == "1024"
    retried = http.post(url, content=payload[1024:], headers=chunk_headers("upload, finalize", 1024))
    assert retried.status_code == 200
    assert stored_sha256(retried.json()["file"]) == hashlib.sha256(payload).hexdigest()


@needs_node
def test_js_sdk_surfaces_chunk_unavailable_as_an_api_error(live_server: LiveServer, api_key: str) -> None:
    http = httpx.Client(base_url=live_server.url, headers={"x-goog-api-key": api_key})
    plan(http, {"kind": "chunk_unavailable", "nth": 2})
    out = run_script(live_server, api_key, "upload_fault.mjs", str(SIZE), "application/pdf")
    assert out["error"]["kind"] == "ApiError" and out["error"]["status"] == 503
    assert json.loads(out["error"]["message"])["error"]["status"] == "UNAVAILABLE"
    assert listed(http) == []


# The connection dropped after a chunk is stored ------------------------------------------------------
def test_python_sdk_surfaces_a_dropped_connection_and_the_chunk_is_committed(
    client: genai.Client, http: httpx.Client
) -> None:
    plan(http, {"kind": "drop_after_store", "nth": 3})  # the last chunk: upload, finalize
    payload = data()
    with pytest.raises(Exception) as raised:
        upload(client, payload)
    assert type(raised.value).__name__ == "RemoteProtocolError"
    assert "without sending a response" in str(raised.value)
    # The reply was lost, not the chunk: the file exists and is intact.
    [file] = listed(http)
    assert file["sizeBytes"] == str(SIZE)
    assert stored_sha256(file) == hashlib.sha256(payload).hexdigest()


def test_dropped_chunk_is_committed_and_the_upload_resumes_after_query(http: httpx.Client) -> None:
    plan(http, {"kind": "drop_after_store", "nth": 1})
    payload = data(3 * 1024)
    url = start_upload(http, len(payload))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(url, content=payload[:1024], headers=chunk_headers("upload", 0))
    reply = query(http, url)
    assert reply.headers["x-goog-upload-status"] == "active"
    assert reply.headers["x-goog-upload-size-received"] == "1024"
    done = http.post(url, content=payload[1024:], headers=chunk_headers("upload, finalize", 1024))
    assert done.headers["x-goog-upload-status"] == "final"
    assert stored_sha256(done.json()["file"]) == hashlib.sha256(payload).hexdigest()


@needs_node
def test_js_sdk_surfaces_a_dropped_connection_as_a_fetch_failure(
    live_server: LiveServer, api_key: str
) -> None:
    http = httpx.Client(base_url=live_server.url, headers={"x-goog-api-key": api_key})
    plan(http, {"kind": "drop_after_store", "nth": 3})
    out = run_script(live_server, api_key, "upload_fault.mjs", str(SIZE), "application/pdf")
    assert out["error"]["kind"] == "TypeError" and out["error"]["message"] == "fetch failed"
    [file] = listed(http)
    assert stored_sha256(file) == out["sha256"]


# 429 at start ---------------------------------------------------------------------------------------
def test_python_sdk_surfaces_start_exhausted_without_retry_options(
    client: genai.Client, http: httpx.Client
) -> None:
    plan(http, {"kind": "start_exhausted", "retry_after": 1})
    with pytest.raises(errors.ClientError) as raised:
        upload(client, b"%PDF-1.4 tiny")
    assert raised.value.code == 429 and raised.value.status == "RESOURCE_EXHAUSTED"
    assert listed(http) == []


def test_python_sdk_retries_start_exhausted_and_uploads_intact(
    live_server: LiveServer, api_key: str, http: httpx.Client
) -> None:
    plan(http, {"kind": "start_exhausted", "times": 2})
    retry = types.HttpRetryOptions(attempts=3, initial_delay=0.05, max_delay=0.2)
    payload = data(3 * 1024 * 1024)
    with genai.Client(
        api_key=api_key, http_options={"base_url": live_server.url, "retry_options": retry}
    ) as sdk:
        file = upload(sdk, payload)
    assert fired(http) == [2]
    assert stored_sha256(file) == hashlib.sha256(payload).hexdigest()


@needs_node
def test_js_sdk_surfaces_start_exhausted_then_retries_with_retry_options(
    live_server: LiveServer, api_key: str
) -> None:
    http = httpx.Client(base_url=live_server.url, headers={"x-goog-api-key": api_key})
    plan(http, {"kind": "start_exhausted"})
    out = run_script(live_server, api_key, "upload_fault.mjs", "4096", "text/plain")
    assert out["error"]["kind"] == "ApiError" and out["error"]["status"] == 429
    assert json.loads(out["error"]["message"])["error"]["status"] == "RESOURCE_EXHAUSTED"
    plan(http, {"kind": "start_exhausted", "times": 2})
    retry = json.dumps({"attempts": 3, "initialDelay": 0.05, "maxDelay": 0.2})
    out = run_script(live_server, api_key, "upload_fault.mjs", "4096", "text/plain", retry)
    assert stored_sha256(out["uploaded"]) == out["sha256"]
    assert fired(http) == [2]


# Processing: held, then ACTIVE; or FAILED ------------------------------------------------------------
def test_python_sdk_sees_a_held_file_processing_until_the_clock_passes(
    client: genai.Client, http: httpx.Client
) -> None:
    plan(http, {"kind": "hold_processing", "seconds": 3600, "mime_type": "application/pdf"})
    payload = data(2048)
    file = upload(client, payload)
    assert file.state == types.FileState.PROCESSING
    assert file.name is not None
    time.sleep(0.5)  # the media worker has had its turn: still held
    assert client.files.get(name=file.name).state == types.FileState.PROCESSING
    with pytest.raises(errors.ClientError) as refused:
        client.models.generate_content(model="inspect", contents=[file, "what is it?"])
    assert refused.value.code == 400 and refused.value.status == "FAILED_PRECONDITION"
    assert http.post("/_internal/clock", json={"advance": "3601s"}).status_code == 200
    active = wait_for_state(http, file.name, "ACTIVE")
    assert stored_sha256(active) == hashlib.sha256(payload).hexdigest()
    assert client.models.generate_content(model="inspect", contents=[file, "what is it?"]).text


def test_python_sdk_sees_a_file_end_failed_with_the_planned_message(
    client: genai.Client, http: httpx.Client
) -> None:
    plan(http, {"kind": "fail_processing", "display_name": "broken-*", "message": "Unsupported codec."})
    ok = client.files.upload(
        file=io.BytesIO(b"fine"), config={"mime_type": "text/plain", "display_name": "ok"}
    )
    assert ok.state == types.FileState.ACTIVE
    file = client.files.upload(
        file=io.BytesIO(b"bad"), config={"mime_type": "text/plain", "display_name": "broken-1"}
    )
    assert file.state == types.FileState.PROCESSING and file.name is not None
    failed = wait_for_state(http, file.name, "FAILED")
    assert failed["error"]["message"] == "Unsupported codec."
    assert client.files.get(name=file.name).error.message == "Unsupported codec."  # type: ignore[union-attr]


@needs_node
def test_js_sdk_uploads_a_held_file_as_processing(live_server: LiveServer, api_key: str) -> None:
    http = httpx.Client(base_url=live_server.url, headers={"x-goog-api-key": api_key})
    plan(http, {"kind": "hold_processing", "seconds": 60}, {"kind": "fail_processing", "nth": 2})
    out = run_script(live_server, api_key, "upload_fault.mjs", "4096", "text/plain")
    assert out["uploaded"]["state"] == "PROCESSING"
    http.post("/_internal/clock", json={"advance": "61s"})
    assert stored_sha256(wait_for_state(http, out["uploaded"]["name"], "ACTIVE")) == out["sha256"]
    out = run_script(live_server, api_key, "upload_fault.mjs", "4096", "text/plain")
    failed = wait_for_state(http, out["uploaded"]["name"], "FAILED")
    assert failed["error"]["message"] == "File processing failed."


# REST helpers ---------------------------------------------------------------------------------------
def start_upload(http: httpx.Client, size: int) -> str:
    reply = http.post(
        "/upload/v1beta/files",
        json={"file": {"displayName": "faulty.bin"}},
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": "application/pdf",
        },
    )
    assert reply.status_code == 200, reply.text
    return reply.headers["x-goog-upload-url"]


def chunk_headers(command: str, offset: int) -> dict[str, str]:
    return {"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)}


def query(http: httpx.Client, url: str) -> httpx.Response:
    return http.post(url, headers={"X-Goog-Upload-Command": "query"})
