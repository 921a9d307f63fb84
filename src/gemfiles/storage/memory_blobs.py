"""The blob-store port in memory (``memory://name``); see storage/memory.py."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from gemfiles.domain.models import PartRef
from gemfiles.domain.ports import PartNumbers, StoredBlob
from gemfiles.storage.parts import check_upload_key, object_key, put_object_in_parts, same_stored_bytes

READ_BLOCK = 1024 * 1024


def bucket_name(url: str) -> str:
    if not url.startswith("memory:"):
        raise ValueError(f"not a memory:// URL: {url!r}")
    return url.removeprefix("memory:").lstrip("/")


@dataclass
class _Bucket:
    uploads: dict[str, dict[int, bytes]] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    # The wall-clock time of each object's and upload's last write ("objects/<key>", "uploads/<key>").
    written: dict[str, datetime] = field(default_factory=dict)

    def touch(self, name: str) -> None:
        self.written[name] = datetime.now(UTC)


_BUCKETS: dict[str, _Bucket] = {}


class MemoryBlobStore:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self._bucket = _BUCKETS.setdefault(name, _Bucket())

    @classmethod
    def from_url(cls, url: str) -> MemoryBlobStore:
        return cls(bucket_name(url))

    @property
    def url(self) -> str:
        return f"memory://{self.name}"

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    def leftovers(self) -> list[str]:
        """Every stored part and object (what a leak would leave behind)."""
        parts = [f"uploads/{k}/{n}" for k, numbers in self._bucket.uploads.items() for n in numbers]
        return sorted(parts + [f"objects/{k}" for k in self._bucket.objects])

    async def begin_upload(self, upload_key: str) -> dict[str, Any]:
        self._bucket.uploads.setdefault(check_upload_key(upload_key), {})
        self._bucket.touch(f"uploads/{upload_key}")
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
        parts = self._parts(upload_key)
        number = numbers.next
        if number in parts:  # created exclusively, like the local disk's part files
            number = await numbers.allocate()
            if number in parts:
                raise FileExistsError(f"part {number} of upload {upload_key}")
        parts[number] = b""
        self._bucket.touch(f"uploads/{upload_key}")
        data = bytearray()
        try:
            async for block in blocks:
                if observe is not None:
                    observe(block)
                data += block
        except BaseException:
            parts.pop(number, None)
            raise
        parts[number] = bytes(data)
        self._bucket.touch(f"uploads/{upload_key}")
        return PartRef(number=number, size=len(data))

    def _parts(self, upload_key: str) -> dict[int, bytes]:
        if object_key(upload_key) in self._bucket.objects:
            raise FileNotFoundError(f"upload {upload_key} is completed")
        return self._bucket.uploads.setdefault(upload_key, {})

    async def put_object(
        self, upload_key: str, blocks: AsyncIterator[bytes], observe: Callable[[bytes], None] | None = None
    ) -> tuple[str, int]:
        return await put_object_in_parts(self, upload_key, blocks, observe)

    async def read_part(self, upload_key: str, state: dict[str, Any], part: PartRef) -> AsyncIterator[bytes]:
        data = self._parts(upload_key).get(part.number)
        if data is None:
            raise FileNotFoundError(f"part {part.number} of upload {upload_key}")
        for start in range(0, min(part.size, len(data)), READ_BLOCK):
            yield data[start : min(start + READ_BLOCK, part.size)]

    async def same_part(
        self, upload_key: str, state: dict[str, Any], part: PartRef, body: AsyncIterator[bytes]
    ) -> bool:
        return await same_stored_bytes(body, self.read_part(upload_key, state, part))

    async def complete_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> str:
        key = object_key(upload_key)
        if key not in self._bucket.objects:
            stored = self._bucket.uploads.pop(upload_key, {})
            self._bucket.objects[key] = b"".join(stored[p.number][: p.size] for p in parts)
            self._bucket.written.pop(f"uploads/{upload_key}", None)
            self._bucket.touch(f"objects/{key}")
        return key

    async def is_completed(self, upload_key: str, state: dict[str, Any]) -> bool:
        return object_key(upload_key) in self._bucket.objects

    async def abort_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> None:
        self._bucket.uploads.pop(check_upload_key(upload_key), None)
        self._bucket.written.pop(f"uploads/{upload_key}", None)

    def _object(self, key: str) -> bytes:
        data = self._bucket.objects.get(key)
        if data is None:
            raise FileNotFoundError(key)
        return data

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        data = self._object(key)
        stop = len(data) if end is None else min(end, len(data))
        for offset in range(start, stop, READ_BLOCK):
            yield data[offset : min(offset + READ_BLOCK, stop)]

    def reader(self, key: str) -> BinaryIO:
        return io.BytesIO(self._object(key))

    async def delete(self, key: str) -> None:
        self._bucket.objects.pop(key, None)
        self._bucket.written.pop(f"objects/{key}", None)

    async def inventory(self) -> AsyncIterator[StoredBlob]:
        bucket, never = self._bucket, datetime.fromtimestamp(0, UTC)
        for key in sorted(bucket.objects):
            if key in bucket.objects:  # removed since the listing began
                size, written = len(bucket.objects[key]), bucket.written.get(f"objects/{key}", never)
                yield StoredBlob("object", key, size, written)
        for key in sorted(bucket.uploads):
            if key in bucket.uploads:
                size = sum(len(data) for data in bucket.uploads[key].values())
                yield StoredBlob("upload", key, size, bucket.written.get(f"uploads/{key}", never))

    async def remove(self, blob: StoredBlob) -> None:
        if blob.kind == "object":
            await self.delete(blob.key)
        else:
            await self.abort_upload(blob.key, {}, [])
