"""A small fault-injecting TCP proxy (for SeaweedFS's S3 port, or any TCP service), run in a thread.

Modes, switched at any time with ``proxy.mode = ...``:
- ``pass``: bytes flow both ways;
- ``reset``: new connections are accepted and closed at once, live ones are cut (the store "answers
  errors": the client sees connection resets);
- ``stall``: new connections are accepted but nothing is forwarded until the mode changes (a store that
  hangs).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from tests.support import free_port


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.mode = "pass"
        self.connections = 0
        self.cut = 0  # connections refused or cut in the reset mode
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        future.result(10)
        return self

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    def set_mode(self, mode: str) -> None:
        assert mode in ("pass", "reset", "stall")
        self.mode = mode
        if mode == "reset":
            self._loop.call_soon_threadsafe(self._cut_all)

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
            self.cut += 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode == "reset":
            self.cut += 1
            writer.transport.abort()
            return
        while self.mode == "stall":  # noqa: ASYNC110 (the mode is set from another thread)
            await asyncio.sleep(0.05)
        if self.mode == "reset":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    while self.mode == "stall":  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    def stop(self) -> None:
        def close() -> None:
            if self._server is not None:
                self._server.close()
            self._cut_all()
            self._loop.stop()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(5)
