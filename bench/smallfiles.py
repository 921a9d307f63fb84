"""Small files and many readers (issue 10): every row beside its anchor, measured in the same run.

Each case alternates rounds of the anchor (``bench/anchors.py``, a plain Starlette handler in its own
uvicorn process) and of gemfiles, and reports the median of the per-round ratios with their range, so a
machine busy with other work moves both sides of a ratio alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.smallload import Conn, Operation, Round, run_round
from gemfiles.testing import LiveServer, free_port

KEY = "bench-small"
BODY = b"hello"
_BOUNDARY = "gemfiles-bench-boundary"
Row = tuple[str, str, str]
ROOT = Path(__file__).resolve().parents[1]


class AnchorServer:
    """``bench/anchors.py`` under uvicorn with the same loop and HTTP parser as ``gemfiles serve``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> AnchorServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ANCHOR_DIR": str(self.directory)}
        command = [sys.executable, "-m", "uvicorn", "bench.anchors:app", "--port", str(self.port)]
        command += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
        self.proc = subprocess.Popen(command, env=env, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the anchor server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


# Operations ---------------------------------------------------------------------------------------------
async def anchor_upload(conn: Conn) -> bool:
    status, _, _ = await conn.request("POST", "/upload", {"Content-Type": "text/plain"}, BODY)
    return status == 200


async def raw_upload(conn: Conn) -> bool:
    headers = {"x-goog-api-key": KEY, "X-Goog-Upload-Protocol": "raw", "Content-Type": "text/plain"}
    status, _, _ = await conn.request("POST", "/upload/v1beta/files", headers, BODY)
    return status == 200


_MULTIPART = (
    (
        f"--{_BOUNDARY}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        + json.dumps({"file": {"displayName": "small"}})
        + f"\r\n--{_BOUNDARY}\r\nContent-Type: text/plain\r\n\r\n"
    ).encode()
    + BODY
    + f"\r\n--{_BOUNDARY}--\r\n".encode()
)


async def multipart_upload(conn: Conn) -> bool:
    headers = {
        "x-goog-api-key": KEY,
        "X-Goog-Upload-Protocol": "multipart",
        "Content-Type": f"multipart/related; boundary={_BOUNDARY}",
    }
    status, _, _ = await conn.request("POST", "/upload/v1beta/files", headers, _MULTIPART)
    return status == 200


async def resumable_upload(conn: Conn) -> bool:
    """The SDKs' path: start, then one ``upload, finalize`` with the whole body."""
    start = {
        "x-goog-api-key": KEY,
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(len(BODY)),
        "X-Goog-Upload-Header-Content-Type": "text/plain",
        "Content-Type": "application/json",
    }
    status, headers, _ = await conn.request("POST", "/upload/v1beta/files", start, b'{"file": {}}')
    if status != 200:
        return False
    url = headers["x-goog-upload-url"]
    path = url[url.index("/upload/") :]
    chunk = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
    status, _, _ = await conn.request("POST", path, chunk, BODY)
    return status == 200


async def anchor_resumable(conn: Conn) -> bool:
    """The anchor's two-request path: ``start`` (a session in memory), then the body to the upload URL."""
    start = {"X-Goog-Upload-Header-Content-Type": "text/plain", "Content-Type": "application/json"}
    status, headers, _ = await conn.request("POST", "/start", start, b'{"file": {}}')
    if status != 200:
        return False
    url = headers["x-goog-upload-url"]
    chunk = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
    status, _, _ = await conn.request("POST", url[url.index("/upload/") :], chunk, BODY)
    return status == 200


def getter(path: str, headers: dict[str, str]) -> Operation:
    async def get(conn: Conn) -> bool:
        status, _, _ = await conn.request("GET", path, headers)
        return status == 200

    return get


# Comparison ------------------------------------------------------------------------------------------------
@dataclass
class Compared:
    ours: list[Round]
    anchor: list[Round]

    @property
    def ratios(self) -> list[float]:
        return [o.per_second / a.per_second for o, a in zip(self.ours, self.anchor, strict=True) if a.done]

    def row(self, name: str, unit: str = "/s") -> Row:
        ours = statistics.median(r.per_second for r in self.ours)
        anchor = statistics.median(r.per_second for r in self.anchor)
        ratios = self.ratios
        p99 = statistics.median(r.percentile(99) for r in self.ours)
        errors = sum(r.errors for r in self.ours) + sum(r.errors for r in self.anchor)
        note = (
            f"anchor {anchor:,.0f}{unit}; ratio range {min(ratios):.2f}-{max(ratios):.2f} over "
            f"{len(ratios)} alternating rounds; p99 {p99:.1f} ms"
        )
        if errors:
            note += f"; {errors} ERRORS"
        return (name, f"{ours:,.0f}{unit} = {statistics.median(ratios):.2f}x", note)


def compare(
    ours: tuple[int, Operation], anchor: tuple[int, Operation], clients: int, rounds: int, seconds: float
) -> Compared:
    result = Compared([], [])
    for index in range(rounds):
        # Alternate which side goes first, so a drift in the machine's load favours neither.
        order = [("anchor", anchor), ("ours", ours)]
        if index % 2:
            order.reverse()
        for side, (port, op) in order:
            measured = asyncio.run(run_round("127.0.0.1", port, op, clients, seconds))
            getattr(result, side).append(measured)
    return result


def small_upload_rows(server: LiveServer, anchor: AnchorServer, rounds: int, seconds: float) -> list[Row]:
    rows: list[Row] = []
    cases: list[tuple[str, Operation, int]] = [
        ("raw upload of 5 bytes, 16 clients", raw_upload, 16),
        ("raw upload of 5 bytes, 1 client", raw_upload, 1),
        ("multipart upload of 5 bytes, 16 clients", multipart_upload, 16),
        ("resumable start + `upload, finalize` of 5 bytes, 16 clients", resumable_upload, 16),
    ]
    # One unmeasured round of each side first: the first case's rounds otherwise caught the anchor's and
    # the server's first files in a new directory (the anchor then ran at two thirds of its later rate).
    compare((server.port, raw_upload), (anchor.port, anchor_upload), 16, 1, seconds)
    for name, op, clients in cases:
        compared = compare((server.port, op), (anchor.port, anchor_upload), clients, rounds, seconds)
        rows.append(compared.row(name))
        if op is resumable_upload:
            # The same protocol done by a plain handler (its session in memory, one durable write): what the
            # second request costs any server, beside what gemfiles' durable session costs.
            two = compare((server.port, op), (anchor.port, anchor_resumable), clients, rounds, seconds)
            name_two = f"  {name}: against a plain two-request handler (session in memory)"
            rows.append(two.row(name_two))
        if clients == 1:
            ms = statistics.median(statistics.median(r.latencies_ms) for r in compared.ours)
            anchor_ms = statistics.median(statistics.median(r.latencies_ms) for r in compared.anchor)
            rows.append((f"  {name}: median latency", f"{ms:.2f} ms", f"anchor {anchor_ms:.2f} ms"))
    return rows


def get_rows(server: LiveServer, anchor: AnchorServer, rounds: int, seconds: float) -> list[Row]:
    _, _, body = asyncio.run(_once(server.port, raw_upload_returning))
    name = json.loads(body)["file"]["name"]
    ours = getter(f"/v1beta/{name}", {"x-goog-api-key": KEY})
    anchor_name = asyncio.run(_anchor_file(anchor.port))
    theirs = getter(f"/files/{anchor_name}", {})
    compared = compare((server.port, ours), (anchor.port, theirs), 16, rounds, seconds)
    return [compared.row("files.get, 16 clients")]


async def raw_upload_returning(conn: Conn) -> tuple[int, dict[str, str], bytes]:
    headers = {"x-goog-api-key": KEY, "X-Goog-Upload-Protocol": "raw", "Content-Type": "text/plain"}
    return await conn.request("POST", "/upload/v1beta/files", headers, BODY)


async def _once(port: int, op: Callable[[Conn], object]) -> tuple[int, dict[str, str], bytes]:
    conn = Conn("127.0.0.1", port)
    try:
        return await op(conn)  # type: ignore[misc, no-any-return]
    finally:
        conn.close()


async def _anchor_file(port: int) -> str:
    conn = Conn("127.0.0.1", port)
    try:
        _, _, body = await conn.request("POST", "/upload", {"Content-Type": "text/plain"}, BODY)
        return str(json.loads(body)["file"]["name"]).removeprefix("files/")
    finally:
        conn.close()
