"""``python -m bench.traced``: ``gemfiles serve`` with a trace of each ``files.list`` request, read back from
``GET /_trace`` (bench/listing_trace.py). Per request: wall and this thread's CPU time in the app, the part
in the metadata store, in rendering (and how many files missed the rendered-JSON memo), in ``send``, cyclic
GC pauses, and the thread's voluntary and involuntary context switches (an involuntary one is the kernel
taking the core away: the machine, not the server). Times are CLOCK_MONOTONIC, comparable with the client's.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from typing import Any

import orjson

import gemfiles.app as app_module
from gemfiles import cli
from gemfiles.protocol.wire import RenderedFiles
from gemfiles.storage.sql_files import SqlFiles

RECORDS: list[dict[str, Any]] = []
GC_PAUSES: list[tuple[float, int, float]] = []  # (monotonic end, generation, ms), all of them
_state: dict[str, Any] = {"current": None, "gc_started": 0.0}


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _state["gc_started"] = time.perf_counter()
        return
    pause = (time.perf_counter() - _state["gc_started"]) * 1000
    GC_PAUSES.append((time.monotonic(), info["generation"], pause))
    current = _state["current"]
    if current is not None:
        current["gc_ms"] += pause
        current["gc_gen"] = max(current["gc_gen"], info["generation"])


def _timed_store() -> None:
    original = SqlFiles.list_files

    async def list_files(self: SqlFiles, *args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return await original(self, *args, **kwargs)
        finally:
            current = _state["current"]
            if current is not None:
                current["store_ms"] += (time.perf_counter() - wall) * 1000
                current["store_cpu_ms"] += (time.thread_time() - cpu) * 1000

    SqlFiles.list_files = list_files  # type: ignore[method-assign]


def _timed_render() -> None:
    original = RenderedFiles.__call__

    def call(self: RenderedFiles, record: Any, origin: str, allow_download: bool) -> bytes:
        started = time.perf_counter()
        hit = self._memo.get((id(record), origin, allow_download))
        data = original(self, record, origin, allow_download)
        current = _state["current"]
        if current is not None:
            current["render_ms"] += (time.perf_counter() - started) * 1000
            current["render_misses"] += hit is None or hit[0] is not record
        return data

    RenderedFiles.__call__ = call  # type: ignore[method-assign]


def _traced(app: Any) -> Any:
    async def traced(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != "/v1beta/files":
            if scope["type"] == "http" and scope["path"] == "/_trace":
                body = orjson.dumps({"requests": RECORDS, "gc": GC_PAUSES})
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": body})
                return
            await app(scope, receive, send)
            return
        record: dict[str, Any] = dict.fromkeys(
            ("store_ms", "store_cpu_ms", "render_ms", "render_misses", "send_ms", "gc_ms", "gc_gen"), 0
        )
        record["gc_gen"] = -1

        async def timed_send(message: dict[str, Any]) -> None:
            started = time.perf_counter()
            await send(message)
            record["send_ms"] += (time.perf_counter() - started) * 1000

        _state["current"] = record
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        record["start"], cpu, process_cpu = time.monotonic(), time.thread_time(), time.process_time()
        try:
            await app(scope, receive, timed_send)
        finally:
            record["end"] = time.monotonic()
            record["cpu_ms"] = (time.thread_time() - cpu) * 1000
            record["process_cpu_ms"] = (time.process_time() - process_cpu) * 1000
            after = resource.getrusage(resource.RUSAGE_THREAD)
            record["involuntary"] = after.ru_nivcsw - usage.ru_nivcsw
            record["voluntary"] = after.ru_nvcsw - usage.ru_nvcsw
            _state["current"] = None
            RECORDS.append(record)

    return traced


def main() -> None:
    if os.environ.get("BENCH_NO_FREEZE"):  # the server as before its start-up heap was frozen
        app_module.freeze_startup_heap = lambda: None  # type: ignore[assignment]
    gc.callbacks.append(_on_gc)
    _timed_store()
    _timed_render()
    create_app = app_module.create_app
    app_module.create_app = lambda *a, **k: _traced(create_app(*a, **k))  # type: ignore[assignment]
    sys.argv = ["gemfiles", "serve"]
    cli.main()


if __name__ == "__main__":
    main()
