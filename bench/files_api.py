"""The Files API benchmarks: a resumable upload in 8 MiB chunks, and files.get under concurrency."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.httpload import LoadResult, run_load

CHUNK = 8 * 1024 * 1024
MIB = 1024 * 1024


@dataclass
class UploadResult:
    size: int
    seconds: float
    peak_rss_mib: float
    file_name: str

    @property
    def mb_per_s(self) -> float:
        return self.size / self.seconds / 1e6


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Samples a process's resident set every 20 ms and keeps the peak seen during a block."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib(self.pid))


def resumable_upload(
    base_url: str,
    key: str,
    size: int,
    mime_type: str = "application/pdf",
    read: Callable[[int, int], bytes] | None = None,
) -> tuple[str, float]:
    """Uploads ``size`` bytes the way the SDKs do; returns (file name, seconds from start to final reply).

    ``read(offset, length)`` supplies the bytes; by default one random 8 MiB block is sent again and again.
    """
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    block = os.urandom(CHUNK)
    started = time.perf_counter()
    conn.request(
        "POST",
        "/upload/v1beta/files",
        body=json.dumps({"file": {"displayName": "bench"}}),
        headers={
            "x-goog-api-key": key,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": mime_type,
            "Content-Type": "application/json",
        },
    )
    response = conn.getresponse()
    response.read()
    upload_url = urlsplit(response.getheader("X-Goog-Upload-URL"))
    target = f"{upload_url.path}?{upload_url.query}"
    offset = 0
    body = b""
    while offset < size:
        length = min(CHUNK, size - offset)
        last = offset + length >= size
        if read is not None:
            payload = read(offset, length)
        else:
            payload = block if length == CHUNK else block[:length]
        conn.request(
            "POST",
            target,
            body=payload,
            headers={
                "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
                "X-Goog-Upload-Offset": str(offset),
                "Content-Type": "application/json",
            },
        )
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"chunk at {offset}: {response.status} {body[:300]!r}")
        offset += length
    elapsed = time.perf_counter() - started
    conn.close()
    return json.loads(body)["file"]["name"], elapsed


def bench_upload(base_url: str, pid: int, key: str, size: int) -> UploadResult:
    with RssSampler(pid) as sampler:
        name, seconds = resumable_upload(base_url, key, size)
    return UploadResult(size, seconds, sampler.peak, name)


def bench_gets(base_url: str, key: str, file_name: str, total: int, clients: int) -> LoadResult:
    parts = urlsplit(base_url)
    path = f"/v1beta/{file_name}"
    return asyncio.run(
        run_load(
            parts.hostname or "127.0.0.1", parts.port or 80, path, {"x-goog-api-key": key}, total, clients
        )
    )
