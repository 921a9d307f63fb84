"""A lean HTTP/1.1 load generator on raw asyncio streams with keep-alive connections.

A general-purpose client spends more CPU per request than the server under test does; on a 2-core
machine that would measure the client. This one writes a fixed request and parses only the status line
and Content-Length.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0


async def _worker(host: str, port: int, request: bytes, count: int, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors += 1
    finally:
        writer.close()
    return errors


async def run_load(
    host: str, port: int, path: str, headers: dict[str, str], total: int, clients: int
) -> LoadResult:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    latencies: list[float] = []
    started = time.perf_counter()
    errors = await asyncio.gather(*(_worker(host, port, request, n, latencies) for n in per_client if n))
    elapsed = time.perf_counter() - started
    return LoadResult(total, elapsed, latencies, sum(errors))
