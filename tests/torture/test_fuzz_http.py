"""Property-based fuzzing of the HTTP surface (Hypothesis) against a live server.

Every route of protocol/routes.py (Files, uploads and upload URLs, models, tunedModels, interactions, our
/_internal/ endpoints) under every API version, with random methods, headers (X-Goog-Upload-*,
Content-Type, keys, Range), query strings and bodies (random JSON, wrong types, huge numbers, unicode,
single quotes, bytes). Properties: never a 5xx, never a hang (each request has a deadline), every non-2xx
is Google's envelope ``{"error": {"code", "message", "status"}}`` with code == the HTTP status. A third test
writes requests byte by byte on a socket (Content-Length mismatches, broken chunked framing). After the
run, the invariants of the crash torture hold: a reference project's files intact, usage exact, no blob
left once everything is deleted and swept.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.support import LiveServer
from tests.torture.harness import TORTURE_ENV, blob_files
from tests.torture.ledger import (
    CheckFigures,
    Expected,
    Ledger,
    Violations,
    check_ledger,
    check_usage,
    list_all,
    sha256_hash,
)
from tests.torture.strategies import BODIES, ENDPOINTS, FUZZ_KEY, HEADERS, IDS, QUERIES, VERSIONS

QUICK_CASES, LONG_CASES = 300, 20000
TIMEOUT = 15.0
REFERENCE_KEY = "fuzz-reference"

_state: dict[str, Any] = {}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("fuzz") / "data", TORTURE_ENV)
    with server:
        yield server


@pytest.fixture(scope="module")
def fuzz_targets(fuzz_server: LiveServer) -> dict[str, Any]:
    """Real things for the fuzzer to aim at: a file of the fuzzed project, a live upload URL, and a
    reference project the fuzzer never names, whose files must come through intact."""
    import hashlib

    with httpx.Client(base_url=fuzz_server.url, timeout=30) as http:
        file = _raw_upload(http, FUZZ_KEY, b"target file")
        start = http.post(
            "/upload/v1beta/files",
            headers={
                "x-goog-api-key": FUZZ_KEY,
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": "1000",
            },
        )
        reference = Ledger(key=REFERENCE_KEY)
        for size in (0, 10, 300_000):
            data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            made = _raw_upload(http, REFERENCE_KEY, data)
            reference.files[made["name"]] = Expected(size, hashlib.sha256(data).hexdigest(), "acked")
    return {
        "file_id": file["name"].removeprefix("files/"),
        "upload_id": start.headers["x-goog-upload-url"].split("upload_id=")[1].split("&")[0],
        "reference": reference,
    }


def _raw_upload(http: httpx.Client, key: str, data: bytes) -> dict[str, Any]:
    reply = http.post(
        "/upload/v1beta/files",
        content=data,
        headers={"x-goog-api-key": key, "X-Goog-Upload-Protocol": "raw", "Content-Type": "text/plain"},
    )
    assert reply.status_code == 200, reply.text
    file: dict[str, Any] = reply.json()["file"]
    assert file["sha256Hash"] == sha256_hash(__import__("hashlib").sha256(data).hexdigest())
    return file


# the properties --------------------------------------------------------------------------------------
def _fill(template: str, version: str, ident: str, targets: dict[str, Any]) -> str:
    ident = targets["file_id"] if ident == "TARGET" else ident
    path = template.replace("{v}", version).replace("{id}", ident)
    if template == "UPLOAD_URL":
        path = f"/upload/v1beta/files?upload_id={targets['upload_id']}&upload_protocol=resumable"
    return path.replace("//", "/") if not path.startswith("//") else path[1:]


def _header_safe(headers: dict[str, str]) -> dict[str, str]:
    """HTTP header values are latin-1 without line breaks; the rest is not something a client can send."""
    safe = {}
    for name, value in headers.items():
        with contextlib.suppress(UnicodeEncodeError):
            value.strip().encode("latin-1")
            if value.isprintable():
                safe[name] = value.strip()
    return safe


def check_reply(reply: httpx.Response, what: str, failures: list[str]) -> None:
    if reply.status_code in (500, 502, 504):
        failures.append(f"{what}: {reply.status_code} {reply.text[:300]}")
        return
    # 501 UNIMPLEMENTED (files:register) and 503 UNAVAILABLE are answers the README pins; in the envelope.
    if reply.status_code < 400 or reply.request.method == "HEAD":
        return
    try:
        error = reply.json()["error"]
        ok = error["code"] == reply.status_code and isinstance(error["message"], str) and error["status"]
    except Exception:
        ok = False
    if not ok:
        failures.append(f"{what}: {reply.status_code} is not Google's envelope: {reply.text[:300]!r}")


def _cases(mode: str) -> int:
    return LONG_CASES if mode == "long" else QUICK_CASES


def test_fuzzed_requests_never_500_never_hang_and_every_error_is_googles_envelope(
    fuzz_server: LiveServer,
    fuzz_targets: dict[str, Any],
    torture_seed: int,
    torture_mode: str,
    reliability_report: dict[str, Any],
) -> None:
    failures: list[str] = []
    counted: dict[str, Any] = {"cases": 0, "by_status": {}, "by_route": {}}
    http = httpx.Client(base_url=fuzz_server.url, timeout=TIMEOUT)

    @seed(torture_seed)
    @settings(
        max_examples=_cases(torture_mode),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(ENDPOINTS, VERSIONS, IDS, HEADERS, QUERIES, BODIES)
    def case(
        endpoint: tuple[str, str],
        version: str,
        ident: str,
        headers: dict[str, str],
        query: dict[str, str],
        body: bytes,
    ) -> None:
        counted["cases"] += 1
        template, method = endpoint
        path = _fill(template, version, ident, fuzz_targets)
        what = f"{method} {path} {headers} {query} {body[:120]!r}"
        try:
            reply = http.request(
                method, path, params=query or None, headers=_header_safe(headers), content=body
            )
        except httpx.TimeoutException:
            failures.append(f"{what}: no answer within {TIMEOUT}s")
            return
        except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError):
            counted["not sendable"] = counted.get("not sendable", 0) + 1
            return  # not a request an HTTP client can make
        status = str(reply.status_code)
        counted["by_status"][status] = counted["by_status"].get(status, 0) + 1
        per_route = counted["by_route"].setdefault(template, {})
        per_route[status] = per_route.get(status, 0) + 1
        check_reply(reply, what, failures)

    try:
        case()
    finally:
        http.close()
    _state["cases"] = _state.get("cases", 0) + counted["cases"]
    reliability_report["fuzz (HTTP surface)"] = {
        "cases": counted["cases"],
        "not sendable (skipped by the client library)": counted.get("not sendable", 0),
        "replies by status": dict(sorted(counted["by_status"].items())),
        "replies by route": counted["by_route"],
        "failures": failures[:30],
    }
    print(f"fuzz: {counted['cases']} cases, replies by status {counted['by_status']}")
    assert not failures, "\n".join(failures[:20]) + f"\nseed {torture_seed}"


RAW_STARTS = [
    "POST /upload/v1beta/files HTTP/1.1\r\nx-goog-api-key: {key}\r\nX-Goog-Upload-Protocol: raw\r\nContent-Type: text/plain\r\n",
    "POST /upload/v1beta/files HTTP/1.1\r\nx-goog-api-key: {key}\r\nX-Goog-Upload-Protocol: multipart\r\nContent-Type: multipart/related; boundary=b\r\n",
    "POST /upload/v1beta/files HTTP/1.1\r\nx-goog-api-key: {key}\r\nX-Goog-Upload-Protocol: resumable\r\nX-Goog-Upload-Command: start\r\n",
    "POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\nx-goog-api-key: {key}\r\nContent-Type: application/json\r\n",
    "POST /v1beta/interactions HTTP/1.1\r\nx-goog-api-key: {key}\r\nContent-Type: application/json\r\n",
    "GET /v1beta/files HTTP/1.1\r\nx-goog-api-key: {key}\r\n",
    "POST {upload_url} HTTP/1.1\r\nX-Goog-Upload-Command: upload\r\nX-Goog-Upload-Offset: 0\r\n",
]


def _raw_exchange(port: int, request: bytes, *, close_write: bool) -> tuple[bytes, float]:
    """Sends ``request`` as is; answers what came back before the server closed or 10 s passed."""
    began = time.monotonic()
    # A request left open (no shutdown) whose body is short waits for bytes that never come: 2 s is enough
    # to see that the server does not answer it with a 500; the held connection is test_resource_faults'.
    with socket.create_connection(("127.0.0.1", port), timeout=10 if close_write else 1) as sock:
        sock.sendall(request)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        with contextlib.suppress(OSError):
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
                if not close_write and b"\r\n\r\n" in received:
                    break
    return received, time.monotonic() - began


def test_fuzzed_framing_content_length_mismatch_and_broken_chunks_never_500_never_hang(
    fuzz_server: LiveServer,
    fuzz_targets: dict[str, Any],
    torture_seed: int,
    torture_mode: str,
    reliability_report: dict[str, Any],
) -> None:
    """Bodies shorter or longer than their Content-Length, two lengths, chunked framing cut or malformed.
    A short body then a closed write side is a client gone mid-body: the server must drop it promptly and
    answer nothing or an error, never a 500; a long one is a second (bad) request on the connection."""
    failures: list[str] = []
    counted = {"cases": 0}
    upload_url = f"/upload/v1beta/files?upload_id={fuzz_targets['upload_id']}&upload_protocol=resumable"

    @seed(torture_seed)
    @settings(
        max_examples=60 if torture_mode == "quick" else 300,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.sampled_from(RAW_STARTS),
        st.binary(max_size=200),
        st.integers(min_value=-3, max_value=400),
        st.sampled_from(["length", "two-lengths", "chunked", "chunked-bad", "none"]),
        st.booleans(),
    )
    def case(start: str, body: bytes, declared: int, framing: str, close_write: bool) -> None:
        counted["cases"] += 1
        head = start.format(key=FUZZ_KEY, upload_url=upload_url) + "Host: 127.0.0.1\r\n"
        if framing == "length":
            head += f"Content-Length: {declared}\r\n"
            payload = body
        elif framing == "two-lengths":
            head += f"Content-Length: {len(body)}\r\nContent-Length: {declared}\r\n"
            payload = body
        elif framing == "chunked":
            head += "Transfer-Encoding: chunked\r\n"
            payload = f"{len(body):x}\r\n".encode() + body + b"\r\n" + (b"0\r\n\r\n" if declared % 2 else b"")
        elif framing == "chunked-bad":
            head += "Transfer-Encoding: chunked\r\n"
            payload = f"{declared:x}zz\r\n".encode() + body
        else:
            payload = body
        received, took = _raw_exchange(
            fuzz_server.port, head.encode() + b"\r\n" + payload, close_write=close_write
        )
        what = f"{framing} {declared} close={close_write} {head.splitlines()[0]} {body[:60]!r}"
        status_line = received.split(b"\r\n", 1)[0]
        if status_line.startswith(b"HTTP/1.1 5"):
            failures.append(f"{what}: {received[:300]!r}")
        if took > 9.5 and close_write:
            failures.append(f"{what}: the server held a closed request for {took:.1f}s")

    case()
    reliability_report["fuzz (HTTP framing)"] = {"cases": counted["cases"], "failures": failures[:30]}
    print(f"framing fuzz: {counted['cases']} cases")
    assert not failures, "\n".join(failures[:20]) + f"\nseed {torture_seed}"


def test_invariants_hold_after_fuzzing(
    fuzz_server: LiveServer, fuzz_targets: dict[str, Any], reliability_report: dict[str, Any]
) -> None:
    """Runs last in this module: the reference project is intact, usage is exact once every session the
    fuzzer opened has expired, and nothing is left in the blob store once every file is deleted."""
    import random

    violations = Violations()
    figures = CheckFigures()
    reference: Ledger = fuzz_targets["reference"]
    with httpx.Client(base_url=fuzz_server.url, timeout=30) as http:
        check_ledger(
            http, reference, violations, figures, random.Random(0), settle=True, usage=True, sample=10
        )
        assert http.post("/_internal/clock", json={"advance": "2d"}).status_code == 200
        assert http.post("/_internal/sweep").status_code == 200
        for key in (FUZZ_KEY, REFERENCE_KEY):
            listed = list_all(http, key)
            check_usage(http, Ledger(key=key), listed, violations, exact=True)
            for name in listed:
                assert http.delete(f"/v1beta/{name}", headers={"x-goog-api-key": key}).status_code == 200
        assert http.post("/_internal/sweep").status_code == 200
        for key in (FUZZ_KEY, REFERENCE_KEY):
            check_usage(http, Ledger(key=key), {}, violations, exact=True)
    left = blob_files(Path(fuzz_server.data_dir) / "blobs")
    reliability_report["fuzz invariants"] = {
        "checks": figures.checks + 4,
        "files_verified": figures.files_verified,
        "blobs_left": left,
        "violations": violations.items,
    }
    assert not violations.items, "\n".join(violations.items)
    assert not left, f"bytes left after deleting every file and sweeping: {left}"
