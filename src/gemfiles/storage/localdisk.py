"""Blob store on the local file system (``file:///path``), the embedded default.

Layout under the root::

    uploads/<upload_key>/<n>.part        one file per chunk attempt, fsynced before its commit (the
                                         directory is made with the upload's first part)
    objects/<k[:2]>/<upload_key>/        a finished object: the committed parts + manifest.json
    objects/<k[:2]>/<upload_key>.data    an object written whole (``put_object``: a one-request upload)

Completing an upload writes a manifest naming the committed parts, fsyncs it and renames the upload's
directory into ``objects/``: one atomic rename, no copy of the bytes, so finalizing a 2 GiB file costs the
same as finalizing 2 bytes. Parts of attempts that lost a race (or were cut off by a crash) are never in a
manifest and are removed when the directory is renamed or collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import io
import json
import os
import shutil
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO

from gemfiles.domain.models import PartRef
from gemfiles.domain.ports import PartNumbers, StoredBlob
from gemfiles.storage import localdisk_inventory as listing
from gemfiles.storage.disk_reader import ConcatReader
from gemfiles.storage.disk_threads import DiskThreads
from gemfiles.storage.parts import check_upload_key, object_key, same_stored_bytes

READ_BLOCK = 1024 * 1024
_MANIFEST = "manifest.json"
# The disk's own threads: an fsync holds its thread for a millisecond or more, and sixteen concurrent small
# uploads (six fsyncs each) would queue behind the event loop's default pool (cores + 4 threads) while the
# disk could take them all at once. Blocking file work of this store runs here, never on the event loop.
DISK_THREADS = 32
_disk = DiskThreads(DISK_THREADS, "gemfiles-disk")


async def _on_disk(function: Callable[..., Any], *args: Any) -> Any:
    return await _disk.run(function, *args)


# Completing an upload takes one of these, picked by its key: racing finalizes of one upload take turns.
_COMPLETING = [threading.Lock() for _ in range(64)]


def _write_fully(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _start_writeback() -> Callable[[int, int, int], Any] | None:
    """Linux's ``sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)``, or None elsewhere.

    It starts writing a range of a file to the device and returns at once. Called after each block of a
    part, it lets the disk work while the next blocks are being received, so the fsync that ends the part
    waits for the last block only (6 ms -> 0.2 ms for an 8 MiB part on the development machine). The
    fsync still decides durability: this only moves the work earlier.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return lambda fd, offset, length: call(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


_SYNC_FILE_RANGE_WRITE = 2
_writeback = _start_writeback()


def _observe_and_write(fd: int, offset: int, data: bytes, observe: Callable[[bytes], None] | None) -> None:
    if observe is not None:
        observe(data)
    _write_fully(fd, data)
    if _writeback is not None:
        _writeback(fd, offset, len(data))  # advisory: a failure here shows up in the fsync


def _fsync_dir(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._uploads = root / "uploads"
        self._objects = root / "objects"
        for path in (self._uploads, self._objects):
            path.mkdir(parents=True, exist_ok=True)
        # objects/<prefix> as text, once each directory is known to exist (made durable): a small upload
        # names its files by string joins, not pathlib (four Paths and a set lookup were ~15 us of it).
        self._prefixes: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"file://{self.root}"

    @classmethod
    def from_url(cls, url: str) -> LocalBlobStore:
        return cls(Path(url.removeprefix("file://")))

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        if not self._objects.is_dir():
            raise OSError(f"blob root {self.root} is not available")

    # Names are derived from server-made keys only, never from client input.
    def _upload_dir(self, upload_key: str) -> Path:
        return self._uploads / check_upload_key(upload_key)

    def _object_dir(self, key: str) -> Path:
        prefix, _, upload_key = key.partition("/")
        if prefix != check_upload_key(upload_key)[:2]:
            raise ValueError(f"not an object key: {key!r}")
        return self._objects / prefix / upload_key

    async def begin_upload(self, upload_key: str) -> dict[str, Any]:
        """Nothing on disk yet: the upload's directory is made by its first part (``_open_part``), so a
        session whose only chunk is the whole file (``put_object``) never has one."""
        check_upload_key(upload_key)  # the key is checked now, as it would be by the mkdir
        return {}

    async def put_part(
        self,
        upload_key: str,
        state: dict[str, Any],
        numbers: PartNumbers,
        blocks: AsyncIterator[bytes],
        length_hint: int | None,
        observe: Callable[[bytes], None] | None = None,
    ) -> PartRef:
        directory = self._upload_dir(upload_key)
        # Parts are created exclusively: the session's next number is tried unallocated, and a number is
        # allocated only when another attempt (or a part a crash left behind) holds it, which saves one
        # metadata transaction per chunk.
        number = numbers.next
        path = directory / f"{number}.part"
        try:
            fd = await _disk.run(self._open_part, upload_key, path)
        except FileExistsError:
            number = await numbers.allocate()
            path = directory / f"{number}.part"
            fd = await _disk.run(self._open_part, upload_key, path)
        size = 0
        pending: asyncio.Future[None] | None = None
        try:
            # Write-behind: block k is written in a worker thread while block k+1 is being received.
            async for block in blocks:
                if pending is not None:
                    await pending
                # One job per block: the observer (the running SHA-256) then the write, in one worker thread,
                # while the event loop receives the next block. Two parallel jobs per block cost more
                # thread hand-offs than they save on two cores.
                pending = _disk.run(_observe_and_write, fd, size, block, observe)
                size += len(block)
            if pending is not None:
                await pending
                pending = None
            await _disk.run(os.fsync, fd)
        except BaseException:
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        return PartRef(number=number, size=size)

    async def put_object(
        self, upload_key: str, blocks: AsyncIterator[bytes], observe: Callable[[bytes], None] | None = None
    ) -> tuple[str, int]:
        """One file written, fsynced and renamed into place (with its directory fsynced): the cost of the
        plainest durable upload handler. The last block, the fsync and the rename go in one thread job, so
        a small body costs one hand-off to a disk thread."""
        key = object_key(upload_key)
        prefix = key[:2]
        parent = self._prefixes.get(prefix)
        if parent is None:
            directory = self._objects / prefix
            await _on_disk(_make_durable_dir, directory)
            parent = self._prefixes[prefix] = str(directory)
        final = f"{parent}/{upload_key}.data"  # = _single_file(key)
        writing = _Writing(f"{parent}/{upload_key}.tmp", observe)
        pending: asyncio.Future[None] | None = None
        held: bytes | None = None
        try:
            async for block in blocks:
                if not block:
                    continue
                if held is not None:
                    if pending is not None:
                        await pending
                    pending = _disk.run(writing.write, held)
                held = block
            if pending is not None:
                await pending
                pending = None
            await _on_disk(writing.finish, held, final)
        except BaseException:
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)
            writing.discard()
            raise
        return key, writing.size

    def _open_part(self, upload_key: str, path: Path) -> int:
        """A new part file. The upload's directory is made with its first part, unless the upload was
        completed (its directory became the object's): then the part is refused, as before, with the
        FileNotFoundError of the missing directory. Completing takes the same lock, so the two never
        interleave."""
        try:
            return _open_new(path)
        except FileNotFoundError:
            with _COMPLETING[hash(upload_key) % len(_COMPLETING)]:
                if self._object_dir(object_key(upload_key)).exists():
                    raise
                path.parent.mkdir(parents=True, exist_ok=True)
            return _open_new(path)

    async def read_part(self, upload_key: str, state: dict[str, Any], part: PartRef) -> AsyncIterator[bytes]:
        path = self._upload_dir(upload_key) / f"{part.number}.part"
        async for block in _read_file(path, 0, part.size):
            yield block

    async def same_part(
        self, upload_key: str, state: dict[str, Any], part: PartRef, body: AsyncIterator[bytes]
    ) -> bool:
        return await same_stored_bytes(body, self.read_part(upload_key, state, part))

    async def complete_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> str:
        key = object_key(upload_key)
        await _on_disk(self._complete, upload_key, key, parts)
        return key

    def _complete(self, upload_key: str, key: str, parts: list[PartRef]) -> None:
        # Two finalize requests may race: they take turns, and the second finds the object made.
        with _COMPLETING[hash(upload_key) % len(_COMPLETING)]:
            self._complete_once(upload_key, key, parts)

    def _complete_once(self, upload_key: str, key: str, parts: list[PartRef]) -> None:
        target = self._object_dir(key)
        if (target / _MANIFEST).exists():
            return  # completed before (a retried finalize)
        source = self._upload_dir(upload_key)
        source.mkdir(parents=True, exist_ok=True)
        keep = {f"{p.number}.part" for p in parts}
        for entry in os.listdir(source):
            if entry not in keep:
                (source / entry).unlink(missing_ok=True)
        manifest = {"parts": [{"file": f"{p.number}.part", "size": p.size} for p in parts]}
        tmp = source / (_MANIFEST + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(manifest, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, source / _MANIFEST)
        _fsync_dir(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        _fsync_dir(target.parent)
        _fsync_dir(self._uploads)

    async def is_completed(self, upload_key: str, state: dict[str, Any]) -> bool:
        return bool(await _on_disk((self._object_dir(object_key(upload_key)) / _MANIFEST).exists))

    async def abort_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> None:
        directory = self._upload_dir(upload_key)
        # A session that never stored a part has no directory (the SDKs' whole-file chunk): one lstat of
        # an entry of the store's own hot folder, answered from the dentry cache, costs less than the
        # hand-off to a disk thread it saves (the removal itself still runs there).
        if os.path.lexists(directory):  # noqa: ASYNC240
            await _on_disk(shutil.rmtree, directory, True)

    def _single_file(self, key: str) -> Path:
        directory = self._object_dir(key)
        return directory.parent / f"{directory.name}.data"

    def _manifest(self, key: str) -> list[tuple[Path, int]]:
        single = self._single_file(key)
        try:
            return [(single, os.stat(single).st_size)]
        except FileNotFoundError:
            pass
        directory = self._object_dir(key)
        with open(directory / _MANIFEST, encoding="utf-8") as src:
            manifest = json.load(src)
        return [(directory / part["file"], int(part["size"])) for part in manifest["parts"]]

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        parts = await _on_disk(self._manifest, key)
        offset = 0
        for path, size in parts:
            part_start, part_end = offset, offset + size
            offset = part_end
            lo = max(start, part_start)
            hi = part_end if end is None else min(end, part_end)
            if lo >= hi:
                continue
            async for block in _read_file(path, lo - part_start, hi - lo):
                yield block

    def reader(self, key: str) -> BinaryIO:
        parts = self._manifest(key)
        if len(parts) == 1:
            return open(parts[0][0], "rb")
        return io.BufferedReader(ConcatReader(parts), buffer_size=READ_BLOCK)  # type: ignore[return-value]

    async def delete(self, key: str) -> None:
        await _on_disk(self._single_file(key).unlink, True)
        await _on_disk(shutil.rmtree, self._object_dir(key), True)

    async def inventory(self) -> AsyncIterator[StoredBlob]:
        """One disk-thread job per ``objects/<k[:2]>/`` folder and per 200 upload folders (localdisk_inventory)."""
        for prefix in await _on_disk(listing.prefixes, self._objects):
            for blob in await _on_disk(listing.scan_prefix, self._objects, prefix):
                yield blob
        names = await _on_disk(listing.upload_names, self._uploads)
        for start in range(0, len(names), listing.UPLOAD_NAMES_PER_JOB):
            batch = names[start : start + listing.UPLOAD_NAMES_PER_JOB]
            for blob in await _on_disk(listing.scan_uploads, self._uploads, batch):
                yield blob

    async def remove(self, blob: StoredBlob) -> None:
        if blob.kind == "object":
            await self.delete(blob.key)
        elif blob.handle.get("tmp"):
            await _on_disk(self._single_file(object_key(blob.key)).with_suffix(".tmp").unlink, True)
        else:
            await self.abort_upload(blob.key, {}, [])


def _make_durable_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        _fsync_dir(path.parent)


class _Writing:
    """A file being written whole: opened at its first block, renamed to its final name when done."""

    def __init__(self, path: str, observe: Callable[[bytes], None] | None) -> None:
        self.path = path
        self.observe = observe
        self.fd: int | None = None
        self.size = 0

    def write(self, block: bytes | None) -> None:
        if self.fd is None:
            self.fd = _open_new(self.path)
        if block:
            _observe_and_write(self.fd, self.size, block, self.observe)
            self.size += len(block)

    def finish(self, block: bytes | None, final: str) -> None:
        self.write(block)
        assert self.fd is not None
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        os.replace(self.path, final)
        _fsync_dir(os.path.dirname(final))

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _open_new(path: Path | str) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


async def _read_file(path: Path, offset: int, length: int) -> AsyncIterator[bytes]:
    handle = await _disk.run(open, path, "rb")
    try:
        handle.seek(offset)
        remaining = length
        while remaining > 0:
            block = await _disk.run(handle.read, min(READ_BLOCK, remaining))
            if not block:
                raise OSError(f"{path} is shorter than its manifest says")
            remaining -= len(block)
            yield block
    finally:
        handle.close()
