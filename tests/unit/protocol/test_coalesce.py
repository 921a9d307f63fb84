"""A small response's head and body leave in one write; nothing waits past the loop's turn."""

from __future__ import annotations

import asyncio

from gemfiles.protocol.coalesce import HOLD_AT_MOST, JOIN_AT_MOST, CoalescingTransport


class Recording(asyncio.Transport):
    """A transport that keeps what is written to it, call by call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


async def test_a_head_and_its_body_sent_in_one_turn_are_one_write() -> None:
    raw = Recording()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b'{"ok":true}')
    assert raw.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"ok":true}']
    await asyncio.sleep(0)
    assert raw.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"ok":true}']


async def test_a_head_alone_leaves_by_the_end_of_the_turn() -> None:
    raw = Recording()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    assert raw.writes == []
    await asyncio.sleep(0)
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
    transport.write(b"5\r\nhello\r\n")  # a streamed chunk much later: alone, by the end of its turn
    await asyncio.sleep(0)
    assert raw.writes[1:] == [b"5\r\nhello\r\n"]


async def test_large_writes_keep_their_order_behind_what_is_held() -> None:
    raw = Recording()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())
    big = b"x" * (JOIN_AT_MOST + 1)
    transport.write(b"head")
    transport.write(big)
    transport.write(b"y" * (HOLD_AT_MOST + 1))  # too big to hold: written at once
    assert raw.writes == [b"head", big, b"y" * (HOLD_AT_MOST + 1)]


async def test_close_sends_what_is_held_and_abort_drops_it() -> None:
    loop = asyncio.get_running_loop()
    raw = Recording()
    transport = CoalescingTransport(raw, loop)
    transport.write(b"408 reply")
    transport.close()
    assert raw.writes == [b"408 reply"] and raw.closed
    await asyncio.sleep(0)
    assert raw.writes == [b"408 reply"]  # the end of the turn finds nothing more to write

    raw = Recording()
    transport = CoalescingTransport(raw, loop)
    transport.write(b"never sent")
    transport.abort()
    await asyncio.sleep(0)
    assert raw.writes == [] and raw.aborted


async def test_everything_else_is_the_transports_own() -> None:
    raw = Recording()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())
    assert transport.is_closing() is False
    assert transport.get_write_buffer_size() == 0
    transport.write(b"held")
    raw.closed = True  # closed under it (the client went away): what is held is dropped, not written
    await asyncio.sleep(0)
    assert raw.writes == [] and transport.is_closing() is True
