"""``DeadlineHttpProtocol`` on a loopback socket, with an ASGI app of the test's own: the time the server
(not the client) holds a body up is never counted against the client; a client that takes nothing of a
response is let go after the send timeout, one that keeps taking bytes never is."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from gemfiles.protocol.deadlines import DeadlineHttpProtocol, http_protocol

IDLE = 0.4  # both timeouts, seconds
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _slow_reader(delay: float) -> App:
    """Waits ``delay`` seconds before it reads the body, then answers with its length."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(delay)
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = str(size).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def _serve(app: App, idle: float = IDLE) -> AsyncIterator[int]:
    config = uvicorn.Config(app, http=http_protocol(idle, idle, idle), lifespan="off", log_level="critical")
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: config.http_protocol_class(config=config, server_state=state, app_state={}),  # type: ignore[call-arg]
        "127.0.0.1",
        0,
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for connection in list(state.connections):
            connection.shutdown()


@pytest.fixture
async def slow_app_port() -> AsyncIterator[int]:
    async for port in _serve(_slow_reader(IDLE * 4)):
        yield port


async def _status(reader: asyncio.StreamReader) -> bytes:
    return (await asyncio.wait_for(reader.readline(), 10)).strip()


async def test_body_held_up_by_a_slow_application_is_not_timed_out(slow_app_port: int) -> None:
    """1 MiB sent at once: reading pauses (the app has not taken the first 64 KiB) for 4 timeouts."""
    reader, writer = await asyncio.open_connection("127.0.0.1", slow_app_port)
    body = b"x" * (1024 * 1024)
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert await _status(reader) == b"HTTP/1.1 200 OK"
    writer.close()


async def test_unanswered_100_continue_is_not_counted_against_the_client() -> None:
    """The app asks for the body 1.5 s in (1 s timeouts), the client sends it 0.7 s after the 100: its
    wait starts at the 100, not at the last check of the clock (1 s in), so it is not cut at 2 s."""
    async for port in _serve(_slow_reader(1.5), idle=1.0):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        assert await _status(reader) == b"HTTP/1.1 100 Continue"  # once the app first asks for the body
        await reader.readline()
        await asyncio.sleep(0.7)
        writer.write(b"hello")
        assert await _status(reader) == b"HTTP/1.1 200 OK"
        writer.close()


async def test_application_waiting_for_a_stalled_body_sees_the_client_gone() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                seen.append(message["type"])
                return

    async for port in _serve(app):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        assert await _status(reader) == b"HTTP/1.1 408 Request Timeout"
        assert await asyncio.wait_for(reader.read(), 10)  # the rest of the reply, then the end
        writer.close()
    assert seen == ["http.disconnect"]


def test_deadlines_override_hooks_uvicorn_still_has() -> None:
    """The subclass leans on these of uvicorn's httptools protocol (pinned in pyproject.toml)."""
    for name in (
        "connection_made",
        "connection_lost",
        "data_received",
        "on_message_begin",
        "on_headers_complete",
        "on_message_complete",
        "pause_writing",
        "resume_writing",
    ):
        assert getattr(DeadlineHttpProtocol, name) is not getattr(HttpToolsProtocol, name), name
    cycle_fields = RequestResponseCycle.__init__.__code__.co_names
    for field in ("disconnected", "message_event", "waiting_for_100_continue", "response_started", "scope"):
        assert field in cycle_fields, field


# the send timeout ----------------------------------------------------------------------------------------
RESPONSE = 4 * 1024 * 1024  # far more than the socket buffers of a client with a small receive buffer
PIECE = 64 * 1024


class _CountingProtocol(DeadlineHttpProtocol):
    pauses = 0

    def pause_writing(self) -> None:
        type(self).pauses += 1
        super().pause_writing()


def _big_response(finished: asyncio.Event, seen: list[str]) -> App:
    """Sends ``RESPONSE`` bytes in 64 KiB pieces, then waits for the client's disconnect."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-length", b"%d" % RESPONSE)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for _ in range(RESPONSE // PIECE):
            await send({"type": "http.response.body", "body": b"x" * PIECE, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        seen.append((await receive())["type"])
        finished.set()

    return app


async def _serve_counting(app: App) -> AsyncIterator[int]:
    def protocol(**kwargs: Any) -> _CountingProtocol:
        return _CountingProtocol(header_timeout=IDLE, body_idle_timeout=IDLE, send_timeout=IDLE, **kwargs)

    config = uvicorn.Config(app, http=protocol, lifespan="off", log_level="critical")  # type: ignore[arg-type]
    config.load()
    state = ServerState()
    server = await asyncio.get_running_loop().create_server(
        lambda: config.http_protocol_class(config=config, server_state=state, app_state={}),  # type: ignore[call-arg]
        "127.0.0.1",
        0,
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for connection in list(state.connections):
            connection.shutdown()


def _client(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # before connect: the window stays small
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock


def _read_all(sock: socket.socket) -> int:
    """Bytes read until the server ends the connection (by a close or a reset)."""
    total = 0
    try:
        while chunk := sock.recv(PIECE):
            total += len(chunk)
    except ConnectionResetError:
        pass
    return total


async def test_application_writing_to_a_client_that_reads_nothing_sees_it_gone() -> None:
    """Cut after the send timeout (or two: the kernel still took a little in the first): the app's
    pending send returns and its receive() says the client is gone."""
    finished, seen = asyncio.Event(), []
    loop = asyncio.get_running_loop()
    async for port in _serve_counting(_big_response(finished, seen)):
        sock = _client(port)
        began = loop.time()
        await asyncio.wait_for(finished.wait(), IDLE + 10)
        assert loop.time() - began >= IDLE * 0.8
        received = await asyncio.to_thread(_read_all, sock)
        sock.close()
    assert seen == ["http.disconnect"]
    assert received < RESPONSE  # cut: the rest was never sent


async def test_slow_client_that_keeps_reading_gets_the_whole_response() -> None:
    """64 KiB every 0.05 s: 4 MiB take over 3 s, eight send timeouts, while writing is paused (for long
    stretches: the kernel takes megabytes, and the socket turns writable only once about half of them are
    gone, so it is the kernel's queue shrinking that shows the client is reading)."""
    finished, seen = asyncio.Event(), []
    _CountingProtocol.pauses = 0
    async for port in _serve_counting(_big_response(finished, seen)):
        sock = _client(port)
        began = asyncio.get_running_loop().time()
        received = await asyncio.to_thread(_read_all_of, sock, RESPONSE, 0.05)
        elapsed = asyncio.get_running_loop().time() - began
        sock.close()
    assert received == RESPONSE
    assert elapsed > IDLE * 3 and _CountingProtocol.pauses >= 1


def _read_all_of(sock: socket.socket, size: int, pause: float) -> int:
    """Reads a response of ``size`` body bytes, ``PIECE`` at a time with ``pause`` seconds between."""
    raw = b""
    while len(raw.partition(b"\r\n\r\n")[2]) < size:
        chunk = sock.recv(PIECE)
        if not chunk:
            break
        raw += chunk
        time.sleep(pause)
    return len(raw.partition(b"\r\n\r\n")[2])
