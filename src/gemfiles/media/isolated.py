"""Probes in a child process: untrusted bytes meet FFmpeg, pypdf and Pillow there, never in the server.

Every probe of media (the background worker's, and the on-demand ones of model calls) runs in a child
interpreter (``python -m gemfiles.media.isolated --serve``) taken from a pool (``pool.ChildPool``): a child
answers many probes, and is retired after ``max_jobs`` of them or after any failure. Text files need no
decoder: their facts (line count, first line, encoding) are read in the server, in a worker thread, in
blocks of a fixed size. The backends' decoding jobs (``run_isolated``) still get a fresh child each. So:

* a decoder that crashes on a hostile file (a segfault in a codec, an out-of-memory kill) takes down only
  its child: the probe fails with ``ProbeFailed`` and the server goes on;
* a decoder that hangs is killed after ``timeout`` seconds (``GEMFILES_PROBE_TIMEOUT_SECONDS``), and one
  that balloons (a decompression bomb) meets the limit of its address space (``GEMFILES_CHILD_MEMORY_MIB``);
* the serving process never imports the media libraries (PyAV, pypdf, Pillow: 10-25 MiB each once
  loaded), so its memory stays the size of the protocol it serves, and what a probe allocates is returned
  to the system when its child exits.

A child costs an interpreter start plus the import of the library its file needs (figures in the README).
It is a plain subprocess rather than a ``multiprocessing`` one so that it never re-imports the parent's main
module (which may be any program embedding the app). The request (a function's name and its arguments) goes
in on stdin and the pickled outcome comes back on stdout; the child opens the blob store from its URL and
reads the file through ``reader()``, the same blocking, seekable view the probes always used, so only facts
cross the pipe (or inline data's bytes, on the way in).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import pickle
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from gemfiles.domain.mime import file_kind
from gemfiles.domain.models import FileRecord, FileState
from gemfiles.domain.ports import BlobStore, ProbeResult
from gemfiles.media.facts import Facts
from gemfiles.media.pool import ChildPool, ProbeFailed
from gemfiles.media.probe import has_probe, not_media, probe_sync

T = TypeVar("T")

log = logging.getLogger("gemfiles.media")


class IsolatedProber:
    """The domain's ``Prober``, each probe in a child: of stored files (the background worker, and model
    calls that meet a file before the worker did) and of inline data. The composition root builds one."""

    def __init__(
        self,
        blob_url: str,
        timeout: float,
        memory_mib: int | None = None,
        *,
        blobs: BlobStore | None = None,
        children: int = 1,
        max_jobs: int = 200,
    ) -> None:
        self.blob_url = blob_url
        self.timeout = timeout
        self.memory_mib = memory_mib
        self.blobs = blobs
        self.pool = ChildPool(children, memory_mib, max_jobs)

    def close(self) -> None:
        self.pool.close()

    async def probe(self, record: FileRecord) -> ProbeResult:
        """(state, facts, error) for a stored file: the worker's probe (``Maintenance.probe_one``).

        A child that crashes or overruns its time is reported like bytes that are not media (video and
        audio end FAILED); an error reading the blob store (OSError) propagates, as it says nothing about
        the bytes.
        """
        if not has_probe(record.mime_type):
            return ProbeResult(FileState.ACTIVE, {}, None)  # nothing to read: no child
        if file_kind(record.mime_type) == "text":
            # No decoder: counting lines in blocks of a fixed size needs no isolation (and no child).
            blobs = self.blobs if self.blobs is not None else blob_store(self.blob_url)
            return await asyncio.to_thread(probe_sync, record, blobs)
        try:
            return await asyncio.to_thread(
                self.pool.run, probe_stored, record, self.blob_url, timeout=self.timeout
            )
        except ProbeFailed as exc:
            return not_media(record, f"the probe {exc}")

    async def facts(self, record: FileRecord) -> Facts:
        """A file's facts: the stored ones, or computed now for a file the worker has not probed yet.

        Pure: it neither writes the metadata nor changes ``record`` (the worker stores its own result
        later). Bytes the probe rejects give ``{"probe_error": ...}``; a type with no probe gives ``{}``.
        """
        if record.facts is not None:
            return record.facts
        return (await self.probe(record)).facts

    async def inline(self, mime_type: str, data: bytes) -> dict[str, Any]:
        """The facts of inline data in a model call."""
        if not has_probe(mime_type):
            return {}
        try:
            return await asyncio.to_thread(self.pool.run, probe_bytes, mime_type, data, timeout=self.timeout)
        except ProbeFailed as exc:
            return {"probe_error": f"the probe {exc}"}


def run_isolated(
    target: Callable[..., T],
    *args: Any,
    timeout: float,
    memory_mib: int | None = None,
    pass_fds: tuple[int, ...] = (),
) -> T:
    """``target(*args)`` in a child process (blocking: call it from a worker thread).

    ``target`` must be a module-level function, its arguments and result picklable. Its exceptions are
    raised here again (as RuntimeError when they cannot be pickled); a child that dies, overruns
    ``timeout`` (it is killed) or runs out of ``memory_mib`` of address space (a decompression bomb)
    raises ProbeFailed. ``pass_fds`` stay open in the child under the same numbers (e.g. a temporary file
    it writes a large result into).
    """
    request = pickle.dumps((sys.path, target.__module__, target.__qualname__, args), pickle.HIGHEST_PROTOCOL)
    try:
        done = subprocess.run(
            # -P: the working directory is not put on the path (a folder there could shadow a module);
            # the child imports with the parent's path instead, sent with the request.
            [sys.executable, "-P", "-m", __name__, str(memory_mib or 0)],
            input=request,
            capture_output=True,
            timeout=timeout,
            check=False,
            pass_fds=pass_fds,
            # Two malloc arenas, not eight per core: threads of a decoder then reserve little address space.
            env={**os.environ, "MALLOC_ARENA_MAX": "2"},
        )
    except subprocess.TimeoutExpired:
        raise ProbeFailed(f"gave no answer within {timeout:g} seconds") from None
    if done.returncode != 0 or not done.stdout:
        if done.stderr:
            log.warning("child process: %s", done.stderr.decode(errors="replace")[-2000:])
        raise ProbeFailed(_death(done.returncode))
    try:
        ok, value = pickle.loads(done.stdout)
    except Exception as exc:  # e.g. an exception class that cannot be rebuilt from its arguments
        raise ProbeFailed(f"gave an answer that could not be read ({type(exc).__name__}: {exc})") from None
    if ok:
        return value  # type: ignore[no-any-return]
    if isinstance(value, MemoryError):
        raise ProbeFailed(f"ran out of its {memory_mib} MiB of memory")
    raise value


def _death(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode} without an answer"


def _child() -> None:
    """The child's side: one request on stdin, its pickled outcome on stdout; with ``--serve``, requests
    framed by their length (``pool``) one after another until stdin ends."""
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the answer
    serve = len(sys.argv) > 1 and sys.argv[1] == "--serve"
    arguments = sys.argv[2:] if serve else sys.argv[1:]
    memory_mib = int(arguments[0]) if arguments else 0
    if memory_mib:
        limit = memory_mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if not serve:
        answer.write(_answer(sys.stdin.buffer.read()))
        answer.close()
        return
    source = sys.stdin.buffer
    while True:
        head = source.read(8)
        if len(head) < 8:
            return  # the pool retired this child (or the server is gone)
        data = _answer(source.read(int.from_bytes(head, "big")))
        answer.write(len(data).to_bytes(8, "big") + data)
        answer.flush()


def _answer(request: bytes) -> bytes:
    path, module, qualname, args = pickle.loads(request)
    sys.path[:] = path
    target: Any = importlib.import_module(module)
    for name in qualname.split("."):
        target = getattr(target, name)
    try:
        reply: tuple[bool, Any] = (True, target(*args))
    except MemoryError:
        reply = (False, MemoryError())  # the original may hold on to what filled the memory
    except Exception as exc:  # the parent decides what an error means
        reply = (False, exc)
    try:
        return pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return pickle.dumps((False, RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))


# The probes, as run in the child ----------------------------------------------------------------------


@cache
def blob_store(url: str) -> Any:
    """The blob store at ``url``, opened once per process (for the blocking ``reader()`` of a child)."""
    from gemfiles.storage.registry import open_blob_store

    return open_blob_store(url)


def probe_stored(record: FileRecord, blob_url: str) -> Any:
    """``probe.probe_sync`` of a stored file (run in the child)."""
    from gemfiles.media.probe import probe_sync

    return probe_sync(record, blob_store(blob_url))


def probe_bytes(mime_type: str, data: bytes) -> dict[str, Any]:
    """The facts of inline data (run in the child); bytes that are not their type give ``probe_error``."""
    import io

    from gemfiles.media.probe import NotMedia, probe_handle

    try:
        return dict(probe_handle(io.BytesIO(data), mime_type))
    except NotMedia as exc:
        return {"probe_error": str(exc)}


if __name__ == "__main__":
    _child()
