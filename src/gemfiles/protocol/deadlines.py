"""Server-side deadlines: a client that stops sending its request, or stops reading its response, does not
hold a connection (and a request's task) forever.

uvicorn times out only idle keep-alive connections (``timeout_keep_alive``, armed after a response), so a
client that stopped in the middle of its request head or body kept its connection, and a stalled body its
request's task, until it went away; so did a client that stopped reading a response (uvicorn's flow
control then holds the application's ``send`` until the client drains the socket). ``DeadlineHttpProtocol``
is uvicorn's httptools protocol with the deadlines production servers have (nginx's
``client_header_timeout`` / ``client_body_timeout`` / ``send_timeout``, Go's ``ReadHeaderTimeout`` and
per-read and per-write deadlines):

* **head**: a connection must send a complete request head within ``header_timeout`` seconds of being
  opened, and a later request on a kept-alive connection within that time of its first byte (the wait
  for that first byte stays uvicorn's keep-alive timeout, as before). Past it the connection is closed:
  with a 408 reply if some of a request had come and nothing else is being answered, silently otherwise.
* **body**: while a request body is being read, ``body_idle_timeout`` seconds in which the server waited
  for bytes and none came end the request: it is answered 408 ``DEADLINE_EXCEEDED`` in Google's envelope
  (``X-Goog-Upload-Status: active`` on an upload URL: nothing of the stalled chunk was committed, the
  session goes on from the offset ``query`` reports), the connection is closed, and the application sees
  the client gone (``http.disconnect``), as when a client vanishes. It is an idle timeout between reads,
  never a total deadline: a slow upload that keeps moving is never cut. Time in which the server, not the
  client, held things up is not counted: while reading is paused because the application has not taken
  the bytes already read (a slow disk or store), while a ``100-continue`` is not answered yet, and each
  time the application asks for more bytes the wait starts again.
* **send**: when the transport pauses writing (its buffer is above the high-water mark: the client is not
  taking the response as fast as it is written), the client has ``send_timeout`` seconds to take some of
  it; past that with not one byte taken the connection is aborted, and the application, waiting in
  ``send``, sees the client gone (``http.disconnect``) and its task ends. An idle time too: each byte the
  client takes (the transport's buffer or the kernel's send queue shrinking) or resumed writing starts it
  again, so a slow download that keeps moving is never cut. The connection is reset (``SO_LINGER`` 0):
  the kernel drops what it still held for that client rather than keep trying to deliver it.

The cost per request: a timer armed at the first byte of a kept-alive request and cancelled at its head's
end (one for the first request, armed at connection open), and a clock read per read; the body timer is
armed only when a body is still coming after the read that completed the head, and fires at most once
per ``body_idle_timeout`` however many reads there are. The send timer costs nothing until writing
pauses (a response that fits the buffers never pauses it), then one timer per pause, cancelled on resume. Written against uvicorn 0.54's
``HttpToolsProtocol`` (pinned in pyproject.toml; ``tests/unit/protocol/test_deadlines.py`` checks the
hooks it overrides are there); passed to uvicorn as ``Config(http=...)`` by ``gemfiles serve``. It also
puts ``coalesce.CoalescingTransport`` between itself and its transport (a small reply in one write).
"""

from __future__ import annotations

import asyncio
import functools
import socket
import struct
from typing import Any

import orjson
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gemfiles.errors import error_body
from gemfiles.protocol.coalesce import CoalescingTransport

TIMED_OUT = "DEADLINE_EXCEEDED"

try:  # the bytes of a TCP socket's send queue not yet acknowledged (Linux: SIOCOUTQ, also TIOCOUTQ)
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # elsewhere the transport's buffer alone measures progress
    _OUTQ = None


def http_protocol(header_timeout: float, body_idle_timeout: float, send_timeout: float) -> Any:
    """What ``uvicorn.Config(http=...)`` is given: it calls it with keyword arguments only, like a class,
    and a partial of a module's class pickles into the worker processes of ``--workers``."""
    return functools.partial(
        DeadlineHttpProtocol,
        header_timeout=header_timeout,
        body_idle_timeout=body_idle_timeout,
        send_timeout=send_timeout,
    )


class _ReadClock(FlowControl):
    """uvicorn's flow control, also noting when the application last asked for more bytes: ``receive``
    calls ``resume_reading`` each time, so the client is idle only from then or from its last bytes."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(transport)
        self._loop = loop
        self.last_read = loop.time()

    def resume_reading(self) -> None:
        self.last_read = self._loop.time()
        super().resume_reading()


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline, a body idle timeout and a send idle timeout
    (module docstring)."""

    def __init__(
        self,
        *args: Any,
        header_timeout: float = 30.0,
        body_idle_timeout: float = 60.0,
        send_timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_idle_timeout = body_idle_timeout
        self.send_timeout = send_timeout
        self._send_deadline: asyncio.TimerHandle | None = None  # armed only while writing is paused
        self._buffered = 0  # bytes not yet taken by the client when the send timer was armed
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head = False  # between a request's first byte and the end of its head
        self._in_body = False  # between the end of a head and the end of its body
        self.clock: _ReadClock | None = None

    # the connection ---------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Each request's cycle is given self.transport: a response's head and body leave in one write.
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
        self.clock = _ReadClock(transport, self.loop)
        self.flow = self.clock
        self._arm(self.header_timeout, self._head_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_send()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.clock is not None:
            self.clock.last_read = self.loop.time()
        super().data_received(data)
        if self._in_body and self._deadline is None and not self.transport.is_closing():
            self._arm(self.body_idle_timeout, self._body_deadline)

    # the transport's write flow control --------------------------------------------------------------------
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_deadline is None:
            self._arm_send()

    def resume_writing(self) -> None:
        self._disarm_send()
        super().resume_writing()

    # the parser's callbacks -------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        if self._deadline is None:  # a kept-alive or pipelined request: its head's time starts now
            self._arm(self.header_timeout, self._head_deadline)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        self._in_body = True  # until on_message_complete, which comes in the same read for no body
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._disarm()
        super().on_message_complete()

    # the deadlines ----------------------------------------------------------------------------------------
    def _arm(self, seconds: float, handler: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, handler)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _arm_send(self) -> None:
        self._buffered = self._unsent()
        self._send_deadline = self.loop.call_later(self.send_timeout, self._send_deadline_passed)

    def _disarm_send(self) -> None:
        if self._send_deadline is not None:
            self._send_deadline.cancel()
            self._send_deadline = None

    def _send_deadline_passed(self) -> None:
        """Still paused: if the client took some bytes meanwhile, it has the whole time again; else it is
        let go (also when the transport is closing, waiting to flush what the client will not take)."""
        self._send_deadline = None
        if self._unsent() < self._buffered:
            self._arm_send()
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:  # a reset: the kernel drops what it holds for the client, not keep trying
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        # connection_lost follows: the cycle is marked disconnected and the application's send released.
        self.transport.abort()

    def _unsent(self) -> int:
        """Bytes written and not yet taken by the client: the transport's buffer and the kernel's send queue
        (which holds megabytes on a fast link; the socket turns writable again only once about half of it is
        gone, so the transport's buffer alone would not show a slow client's progress for a long while)."""
        unsent = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if _OUTQ is not None and sock is not None:
            try:
                unsent += struct.unpack("i", fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0"))[0]
            except OSError:
                pass
        return unsent

    def _head_deadline(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        answering = self.cycle is not None and not self.cycle.response_complete
        if self._in_head and not answering:
            self._reply_and_close(
                f"The request head did not arrive within {self.header_timeout:g} s. Send the request again.",
                upload_url=False,
            )
        else:
            self._close()

    def _body_deadline(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if not self._in_body or cycle is None or self.transport.is_closing() or self.clock is None:
            return
        now = self.loop.time()
        if self.clock.read_paused or cycle.waiting_for_100_continue:
            self.clock.last_read = now  # the server holds things up, not the client
        idle = now - self.clock.last_read
        if idle < self.body_idle_timeout:
            self._arm(self.body_idle_timeout - idle, self._body_deadline)
            return
        self._in_body = False
        if cycle.response_started:  # answered already (before reading the body): only the rest is dropped
            self._close()
            return
        scope = cycle.scope
        upload_url = scope["path"].startswith("/upload/") and b"upload_id=" in scope["query_string"]
        # The application, waiting in receive(), sees the client gone and answers into nothing.
        cycle.disconnected = True
        cycle.message_event.set()
        self._reply_and_close(
            f"No bytes of the request body arrived for {self.body_idle_timeout:g} s. "
            + (
                "Nothing of this chunk was kept: query the upload for its offset and send the chunk again."
                if upload_url
                else "Send the request again."
            ),
            upload_url=upload_url,
        )

    def _reply_and_close(self, message: str, *, upload_url: bool) -> None:
        body = orjson.dumps(error_body(408, message, TIMED_OUT))
        head = [b"HTTP/1.1 408 Request Timeout\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head.append(b"content-type: application/json; charset=UTF-8\r\n")
        head.append(b"content-length: %d\r\n" % len(body))
        if upload_url:
            head.append(b"x-goog-upload-status: active\r\n")
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self._close()

    def _close(self) -> None:
        """Closed once what was written is sent; at once when a client that does not read holds it up."""
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()
