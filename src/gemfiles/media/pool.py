"""Reusable probe children: the interpreter start and the decoders' imports paid once per child, not per file.

A child (``python -m gemfiles.media.isolated --serve``) answers one request after another on its pipes:
an 8-byte length and a pickle each way. It keeps what made a child safe to hand hostile bytes:

* it is a separate process with its address space limited (``RLIMIT_AS``), so a decoder that crashes or
  balloons takes down only the child;
* a job that overruns its time gets the child killed (``ProbeFailed``);
* a child is **retired after any failure** (a crash, a timeout, an exception of the probe, an answer that
  cannot be read) and **after ``max_jobs`` jobs**, so no decoder state, leak or fragmentation outlives a
  bounded number of files; the next job starts a fresh child.

At most ``size`` children run at once; a job waits for one of them.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_LENGTH = struct.Struct("!Q")


class ProbeFailed(Exception):
    """The child died or ran out of time: nothing is known about the bytes."""


class _Child:
    def __init__(self, memory_mib: int | None) -> None:
        self.proc = subprocess.Popen(
            # -P: the working directory is not put on the path (a folder there could shadow a module).
            [sys.executable, "-P", "-m", "gemfiles.media.isolated", "--serve", str(memory_mib or 0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Two malloc arenas, not eight per core: threads of a decoder then reserve little address space.
            env={**os.environ, "MALLOC_ARENA_MAX": "2"},
        )
        self.jobs = 0

    def ask(self, request: bytes, timeout: float) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(_LENGTH.pack(len(request)) + request)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise ProbeFailed(self.death()) from None
        deadline = time.monotonic() + timeout
        head = self._read(_LENGTH.size, deadline, timeout)
        return self._read(_LENGTH.unpack(head)[0], deadline, timeout)

    def _read(self, size: int, deadline: float, timeout: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        chunks: list[bytes] = []
        while size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.kill()
                raise ProbeFailed(f"gave no answer within {timeout:g} seconds")
            data = os.read(fd, min(size, 1 << 20))
            if not data:
                raise ProbeFailed(self.death())
            chunks.append(data)
            size -= len(data)
        return b"".join(chunks)

    def death(self) -> str:
        self.kill()
        code = self.proc.returncode
        if code is not None and code < 0:
            import signal

            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with code {code} without an answer"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    def retire(self) -> None:
        """Asks an idle child to exit (end of its input), and reaps it."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class ChildPool:
    def __init__(self, size: int, memory_mib: int | None, max_jobs: int = 200) -> None:
        self.size = size
        self.memory_mib = memory_mib
        self.max_jobs = max_jobs
        self._idle: list[_Child] = []
        self._running = 0
        self._ready = threading.Condition()
        self._closed = False
        self.started = 0  # children started (tests and benchmarks read these)
        self.retired = 0

    def run(self, target: Callable[..., T], *args: Any, timeout: float) -> T:
        """``target(*args)`` in a child (blocking: call it from a worker thread); see ``isolated.run_isolated``."""
        request = pickle.dumps(
            (sys.path, target.__module__, target.__qualname__, args), pickle.HIGHEST_PROTOCOL
        )
        child = self._take()
        healthy = False
        try:
            answer = child.ask(request, timeout)
            try:
                ok, value = pickle.loads(answer)
            except Exception as exc:
                raise ProbeFailed(
                    f"gave an answer that could not be read ({type(exc).__name__}: {exc})"
                ) from None
            healthy = ok
            child.jobs += 1
        finally:
            self._give_back(child, healthy)
        if ok:
            return value  # type: ignore[no-any-return]
        if isinstance(value, MemoryError):
            raise ProbeFailed(f"ran out of its {self.memory_mib} MiB of memory")
        raise value

    def _take(self) -> _Child:
        with self._ready:
            while not self._idle and self._running >= self.size:
                self._ready.wait()
            self._running += 1
            if self._idle:
                return self._idle.pop()
        try:
            child = _Child(self.memory_mib)
        except BaseException:
            with self._ready:
                self._running -= 1
                self._ready.notify()
            raise
        self.started += 1
        return child

    def _give_back(self, child: _Child, healthy: bool) -> None:
        keep = healthy and child.jobs < self.max_jobs and child.proc.poll() is None and not self._closed
        if not keep:
            self.retired += 1
            if healthy:
                child.retire()
            else:
                child.kill()
        with self._ready:
            self._running -= 1
            if keep:
                self._idle.append(child)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.retire()
