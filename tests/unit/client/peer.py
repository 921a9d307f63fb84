"""A scripted resumable-upload peer for the client's unit tests: WIRE.md section 5 in a few lines, with faults
injected on demand (a reply lost after the bytes were kept, 5xx, 429, a wrong digest). Not a server under test:
the real server is exercised end to end in tests/e2e/test_cli_client.py."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from gemfiles.client.resumable import UploadResult
from gemfiles.client.sources import UploadJob

Fault = Callable[[httpx.Request], httpx.Response | None]


@dataclass
class Peer:
    data: bytearray = field(default_factory=bytearray)
    declared: int = 0
    final: bool = False
    faults: list[Fault | None] = field(default_factory=list)  # one per upload request, in order
    requests: list[tuple[str, int | None, int]] = field(default_factory=list)  # command, offset, length
    wrong_digest: bool = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        command = request.headers.get("x-goog-upload-command", "")
        if command == "start":
            self.declared = int(request.headers["x-goog-upload-header-content-length"])
            return httpx.Response(
                200,
                headers={
                    "X-Goog-Upload-Status": "active",
                    "X-Goog-Upload-URL": "http://elsewhere.test:9/upload/v1/files?upload_id=u1&upload_protocol=resumable",
                },
            )
        offset = request.headers.get("x-goog-upload-offset")
        body = request.read()
        self.requests.append((command, int(offset) if offset is not None else None, len(body)))
        if command == "query":
            return self.state_reply()
        fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            injected = fault(request)
            if injected is not None:
                return injected
        if int(offset or 0) != len(self.data):
            return httpx.Response(
                400,
                headers={
                    "X-Goog-Upload-Status": "active",
                    "X-Goog-Upload-Size-Received": str(len(self.data)),
                },
                json={"error": {"code": 400, "message": "offset", "status": "INVALID_ARGUMENT"}},
            )
        self.data += body
        if "finalize" in command:
            self.final = True
        return self.state_reply()

    def state_reply(self) -> httpx.Response:
        if self.final:
            digest = hashlib.sha256(b"other" if self.wrong_digest else bytes(self.data)).hexdigest()
            file = {
                "name": "files/f1",
                "sizeBytes": str(len(self.data)),
                "sha256Hash": base64.b64encode(digest.encode()).decode(),
            }
            return httpx.Response(
                200, headers={"X-Goog-Upload-Status": "final"}, content=json.dumps({"file": file})
            )
        return httpx.Response(
            200,
            headers={"X-Goog-Upload-Status": "active", "X-Goog-Upload-Size-Received": str(len(self.data))},
        )


def lose_reply_after_keeping(peer: Peer) -> Fault:
    """The bytes are kept, the reply never arrives (a connection lost at the worst moment)."""

    def fault(request: httpx.Request) -> httpx.Response | None:
        peer.faults.insert(0, None)
        peer.handle(request)
        raise httpx.ReadError("connection lost", request=request)

    return fault


def reply(code: int, *, status: str | None = "active", **headers: str) -> Fault:
    def fault(request: httpx.Request) -> httpx.Response:
        all_headers = dict(headers)
        if status:
            all_headers["X-Goog-Upload-Status"] = status
        return httpx.Response(
            code,
            headers=all_headers,
            json={"error": {"code": code, "message": f"injected {code}", "status": "X"}},
        )

    return fault


class NoBars:
    def start(self, job: UploadJob, done: int) -> None: ...
    def advance(self, job: UploadJob, size: int) -> None: ...
    def rewind(self, job: UploadJob, done: int) -> None: ...
    def finish(self, job: UploadJob, result: UploadResult) -> None: ...
