"""A lean HTTP/1.1 client for the small-file benchmarks: keep-alive connections on raw asyncio streams,
any method and body, a fixed duration per round (so a slow server and a fast anchor are timed alike)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


class Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        reply: dict[str, str] = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name:
                reply[name.decode().lower()] = value.decode().strip()
        length = int(reply.get("content-length", "0"))
        data = await self.reader.readexactly(length) if length else b""
        return status, reply, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


Operation = Callable[[Conn], Awaitable[bool]]


@dataclass
class Round:
    done: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def _client(host: str, port: int, op: Operation, until: float, result: Round) -> None:
    conn = Conn(host, port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            ok = await op(conn)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            if ok:
                result.done += 1
            else:
                result.errors += 1
    finally:
        conn.close()


async def run_round(host: str, port: int, op: Operation, clients: int, seconds: float) -> Round:
    result = Round()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_client(host, port, op, until, result) for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result
