"""Blob store on any S3-compatible object store (``s3://bucket/prefix``): AWS S3, GCS, Ceph, SeaweedFS, MinIO.

Endpoint, region and credentials come from the AWS SDK's usual chain (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``/``AWS_REGION``, profiles, instance
roles). Layout under the prefix::

    objects/<k[:2]>/<upload_key>       a finished object (the multipart upload's own key)
    uploads/<upload_key>/<n>           a chunk kept as its own object until the upload completes

An upload is one S3 multipart upload, begun with the session (its id is the session's blob state). A chunk
of at least 5 MiB whose length is known goes straight in as part ``n`` (every attempt allocates a fresh
``n``, so a lost race never overwrites the winner). A smaller chunk is stored as its own object, and
``complete_upload`` joins runs of them into parts S3 accepts (storage/s3_join.py).

Modules: s3_client (clients, names, object primitives), s3_body (the streamed request body), s3_join
(completing), s3_reader (the blocking reader for probes), s3_inventory (listing and removing for the scrub),
this one (the BlobStore port).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, BinaryIO, TypeVar, cast

from botocore.exceptions import BotoCoreError, ClientError

from gemfiles.domain.models import PartRef
from gemfiles.domain.ports import BlobStoreError, PartNumbers, PartUnreadable
from gemfiles.storage.parts import observed, put_object_in_parts, same_stored_bytes
from gemfiles.storage.s3_body import PartBody
from gemfiles.storage.s3_client import READ_BLOCK
from gemfiles.storage.s3_inventory import S3Inventory
from gemfiles.storage.s3_join import MAX_PART_NUMBER, MIN_PART, S3Joins
from gemfiles.storage.s3_reader import RangeReader

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def _refusals_as_store_errors(method: F) -> F:
    """S3's refusals and unreachability become BlobStoreError (an OSError), as the domain expects of a store."""

    @functools.wraps(method)
    async def wrapper(self: Any, upload_key: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, upload_key, *args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(f"S3 did not do {method.__name__} for upload {upload_key}: {exc}") from exc

    return cast(F, wrapper)


class S3BlobStore(S3Joins, S3Inventory):
    async def begin_upload(self, upload_key: str) -> dict[str, Any]:
        s3 = await self._s3()
        key = self._object_key(self._final_key(upload_key))
        reply = await s3.create_multipart_upload(Bucket=self.bucket, Key=key)
        return {"upload_id": reply["UploadId"]}

    @_refusals_as_store_errors
    async def put_part(
        self,
        upload_key: str,
        state: dict[str, Any],
        numbers: PartNumbers,
        blocks: AsyncIterator[bytes],
        length_hint: int | None,
        observe: Callable[[bytes], None] | None = None,
    ) -> PartRef:
        # S3 overwrites a part of the same number silently: every attempt gets an allocated number.
        number = await numbers.allocate()
        blocks = observed(blocks, observe)
        if length_hint is None:
            return await self._put_spooled(upload_key, state, number, blocks)
        if length_hint == 0:
            async for block in blocks:
                if block:
                    raise ValueError("the chunk is longer than its declared 0 bytes")
            return PartRef(number=number, size=0)
        body = PartBody(blocks, length_hint)
        try:
            part = await self._send_part(upload_key, state, number, body, length_hint)
            await body.finish()
            return part
        except Exception:
            if body.error is not None and body.size != length_hint:
                if isinstance(body.error, ValueError):
                    # The chunk ended early (or ran long): nothing was stored, and the size says so.
                    return PartRef(number=number, size=body.size)
                raise body.error from None
            raise

    def _is_native(self, state: dict[str, Any], number: int, size: int) -> bool:
        return size >= MIN_PART and 1 <= number <= MAX_PART_NUMBER and bool(state.get("upload_id"))

    async def _send_part(
        self, upload_key: str, state: dict[str, Any], number: int, body: Any, size: int
    ) -> PartRef:
        s3 = await self._s3()
        if self._is_native(state, number, size):
            reply = await s3.upload_part(
                Bucket=self.bucket,
                Key=self._object_key(self._final_key(upload_key)),
                UploadId=state["upload_id"],
                PartNumber=number,
                Body=body,
                ContentLength=size,
            )
            return PartRef(number=number, size=size, etag=reply["ETag"])
        name = str(number)
        await s3.put_object(
            Bucket=self.bucket, Key=self._parts_prefix(upload_key) + name, Body=body, ContentLength=size
        )
        return PartRef(number=number, size=size, key=name)

    async def _put_spooled(
        self, upload_key: str, state: dict[str, Any], number: int, blocks: AsyncIterator[bytes]
    ) -> PartRef:
        """A chunk of unknown length goes to a temporary file first: S3 needs every part's length up front."""
        spool = await asyncio.to_thread(_temporary_file)
        try:
            size = 0
            async for block in blocks:
                if block:
                    await asyncio.to_thread(spool.write, block)
                    size += len(block)
            if size == 0:
                return PartRef(number=number, size=0)
            await asyncio.to_thread(spool.flush)
            await asyncio.to_thread(spool.seek, 0)
            return await self._send_part(upload_key, state, number, spool, size)
        finally:
            await asyncio.to_thread(spool.close)

    async def put_object(
        self, upload_key: str, blocks: AsyncIterator[bytes], observe: Callable[[bytes], None] | None = None
    ) -> tuple[str, int]:
        return await put_object_in_parts(self, upload_key, blocks, observe)

    async def read_part(self, upload_key: str, state: dict[str, Any], part: PartRef) -> AsyncIterator[bytes]:
        if not part.key:
            raise PartUnreadable(
                f"part {part.number} of upload {upload_key} is inside an unfinished S3 upload"
            )
        async for block in self._get(self._part_key(upload_key, part), 0, part.size):
            yield block

    async def same_part(
        self, upload_key: str, state: dict[str, Any], part: PartRef, body: AsyncIterator[bytes]
    ) -> bool:
        if part.key:
            return await same_stored_bytes(body, self.read_part(upload_key, state, part))
        # A part inside the unfinished multipart upload cannot be read back, but its ETag is the MD5 of
        # its bytes (hex, quoted): the re-sent chunk must hash to it.
        expected = part.etag.strip('"').lower()
        if not re.fullmatch(r"[0-9a-f]{32}", expected):
            return False
        digest = hashlib.md5(usedforsecurity=False)
        async for block in body:
            await asyncio.to_thread(digest.update, block)
        return digest.hexdigest() == expected

    @_refusals_as_store_errors
    async def complete_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> str:
        final = self._final_key(upload_key)
        upload_id = state.get("upload_id", "")
        total = sum(p.size for p in parts)
        if total == 0:
            await self._put_empty(final)
            await self._abort(upload_key, upload_id)
            return final
        groups = self._plan_in_place(upload_key, parts)
        if groups is None:
            return await self._complete_in_two_rounds(upload_key, upload_id, parts)
        try:
            await self._assemble(self._object_key(final), upload_id, groups)
        except Exception:
            # Another request completed this upload first (its object exists only once S3 has assembled
            # it): that object is the answer.
            if not await self._exists(self._object_key(final)):
                raise
        await self._remove_parts_after_completion(upload_key)
        return final

    async def _put_empty(self, key: str) -> None:
        s3 = await self._s3()
        await s3.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=b"")

    async def is_completed(self, upload_key: str, state: dict[str, Any]) -> bool:
        final = self._object_key(self._final_key(upload_key))
        return await self._exists(final) or await self._exists(final + ".j")

    async def abort_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> None:
        await self._abort(upload_key, state.get("upload_id", ""))
        await self._remove_parts(upload_key)

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        async for block in self._get(self._object_key(key), start, end):
            yield block

    def reader(self, key: str) -> BinaryIO:
        raw = RangeReader(self._blocking_s3(), self.bucket, self._object_key(key))
        return io.BufferedReader(raw, buffer_size=READ_BLOCK)  # type: ignore[return-value]


def _temporary_file() -> BinaryIO:
    return tempfile.TemporaryFile(prefix="gemfiles-part-")


__all__ = ["PartUnreadable", "S3BlobStore"]
