"""Blob store on any S3-compatible object store (``s3://bucket/prefix``): AWS S3, GCS, Ceph, SeaweedFS, MinIO.

Endpoint, region and credentials come from the AWS SDK's usual chain (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``/``AWS_REGION``, profiles, instance
roles). Layout under the prefix::

    objects/<k[:2]>/<upload_key>       a finished object (the multipart upload's own key)
    uploads/<upload_key>/<n>           a chunk kept as its own object until the upload completes

An upload is one S3 multipart upload, begun with the session (its id is the session's blob state). A chunk
of at least 5 MiB whose length is known goes straight in as part ``n`` (the domain hands every attempt a
fresh ``n``, so a lost race never overwrites the winner). S3 refuses parts under 5 MiB except the last, so a
smaller chunk is stored as its own object, and ``complete_upload`` joins each run of such chunks into parts
of at least 5 MiB: by UploadPartCopy when the run is one object, else by streaming the objects back into one
UploadPart. A run under 5 MiB wedged between two large parts cannot be joined to them before S3 has
assembled them, so that rare layout completes in two rounds (see ``_complete_in_two_rounds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import itertools
import logging
import os
import re
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import parse_qs, urlencode, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from gemfiles.domain.models import PartRef
from gemfiles.domain.ports import BlobStoreError, PartNumbers, PartUnreadable
from gemfiles.storage.parts import check_upload_key, object_key, observed, same_stored_bytes

log = logging.getLogger("gemfiles.storage.s3")
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

MIN_PART = 5 * 1024 * 1024  # S3's minimum size of every part but the last
MAX_PART_NUMBER = 10_000
JOIN_TARGET = 16 * 1024 * 1024  # runs of small chunks are joined into parts of about this size
READ_BLOCK = 1024 * 1024
READ_AHEAD = 4 * 1024 * 1024  # what reader() fetches per ranged GET
JOIN_CONCURRENCY = 4

_OBJECT_KEY = re.compile(r"^[0-9A-Za-z]{2}/[0-9A-Za-z]+(\.j)?$")
_NO_UPLOAD = ("NoSuchUpload", "404")
_NO_KEY = ("NoSuchKey", "404", "NotFound")


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    return str(error.get("Code", ""))


@dataclass(frozen=True, slots=True)
class _Piece:
    """A byte range of an existing object: the raw material of one joined part."""

    key: str  # full S3 key
    start: int
    end: int  # exclusive

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(slots=True)
class _Group:
    """One part of the completed upload: a part already in S3 (``native``) or pieces to join."""

    number: int
    native: PartRef | None = None
    pieces: list[_Piece] | None = None

    @property
    def size(self) -> int:
        if self.native is not None:
            return self.native.size
        return sum(p.size for p in self.pieces or [])


class _Body:
    """An async request body for aiohttp: the domain's blocks, counted.

    botocore calls ``seek(0)`` before every attempt. A client's chunk cannot be read twice, so that is
    refused after the first byte and a failed send is not retried with half a stream (the client re-sends
    the chunk instead). A body joined from stored objects can be read again: given ``restart``, a rewind
    starts a fresh stream from it and botocore's retry sends the whole part again.

    The body ends by itself after ``length`` bytes, without asking the source for more: aiohttp may still
    be finishing the body in its writer task when the reply is in. ``finish`` then runs the source to its
    end in the caller's task, so whatever the source does after its last block (the domain's running
    SHA-256) is done before the caller goes on.
    """

    def __init__(
        self,
        blocks: AsyncIterator[bytes],
        length: int,
        restart: Callable[[], AsyncIterator[bytes]] | None = None,
    ) -> None:
        self._blocks = blocks
        self._restart = restart
        self._spent: list[AsyncIterator[bytes]] = []
        self.length = length
        self.size = 0
        self.started = False
        self.error: Exception | None = None

    def read(self, *args: Any) -> bytes:  # botocore checks that a body is file-like; aiohttp iterates it
        raise io.UnsupportedOperation("read")

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset != 0 or whence != 0:
            raise io.UnsupportedOperation("a body can only be rewound to its start")
        if self.started:
            if self._restart is None:
                raise io.UnsupportedOperation("a chunk's body cannot be rewound")
            self._spent.append(self._blocks)
            self._blocks = self._restart()
            self.size = 0
            self.started = False
            self.error = None
        return 0

    def tell(self) -> int:
        return self.size

    def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        try:
            while self.size < self.length:
                block = await anext(self._blocks, None)
                if block is None:
                    raise ValueError(f"the chunk ended after {self.size} of its {self.length} bytes")
                self.size += len(block)
                if self.size > self.length:
                    raise ValueError(f"the chunk is longer than its declared {self.length} bytes")
                yield block
        except Exception as exc:
            self.error = exc
            raise

    async def close(self) -> None:
        """Closes every stream this body started, without reading them further."""
        for blocks in [*self._spent, self._blocks]:
            with contextlib.suppress(Exception):
                await blocks.aclose()  # type: ignore[attr-defined]
        self._spent.clear()

    async def finish(self) -> None:
        for spent in self._spent:
            with contextlib.suppress(Exception):
                await spent.aclose()  # type: ignore[attr-defined]
        self._spent.clear()
        async for block in self._blocks:
            if block:
                self.size += len(block)
                self.error = ValueError(f"the chunk is longer than its declared {self.length} bytes")
                raise self.error


def _refusals_as_store_errors(method: F) -> F:
    """S3's refusals and unreachability become BlobStoreError (an OSError), as the domain expects of a store."""

    @functools.wraps(method)
    async def wrapper(self: Any, upload_key: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, upload_key, *args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(f"S3 did not do {method.__name__} for upload {upload_key}: {exc}") from exc

    return cast(F, wrapper)


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: str | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("s3:// URLs need a bucket: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url, self.region, self.addressing_style = _client_options(
            endpoint_url, region, addressing_style
        )
        self._client: Any = None
        self._client_cm: Any = None
        self._client_lock = asyncio.Lock()
        self._sync_client: Any = None
        self._sync_lock = threading.Lock()

    @property
    def url(self) -> str:
        query = urlencode(
            {"endpoint": self.endpoint_url, "region": self.region, "addressing": self.addressing_style}
            if self.endpoint_url or self.region
            else {"addressing": self.addressing_style}
        )
        return f"s3://{self.bucket}/{self.prefix}?{query}"

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        """``s3://bucket/prefix`` with optional ``?endpoint=...&region=...&addressing=path|virtual``."""
        parts = urlsplit(url)
        if parts.scheme != "s3":
            raise ValueError(f"not an s3:// URL: {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return cls(
            parts.netloc,
            parts.path,
            endpoint_url=query.get("endpoint"),
            region=query.get("region"),
            addressing_style=query.get("addressing"),
        )

    # Clients ----------------------------------------------------------------------------------------------
    def _config(self, pool: int) -> Any:
        from botocore.config import Config

        return Config(
            region_name=self.region,
            s3={"addressing_style": self.addressing_style, "payload_signing_enabled": False},
            # Bodies are streamed once; checksums beyond what S3 requires would need a second pass.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 4, "mode": "standard"},
            max_pool_connections=pool,
            connect_timeout=10,
            read_timeout=120,
        )

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    from aiobotocore.session import get_session

                    cm = get_session().create_client(
                        "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=self._config(64)
                    )
                    self._client = await cm.__aenter__()
                    self._client_cm = cm
        return self._client

    def _blocking_s3(self) -> Any:
        """A boto3 client for reader(), which runs in worker threads (boto3 clients are thread-safe)."""
        with self._sync_lock:
            if self._sync_client is None:
                import boto3

                self._sync_client = boto3.session.Session().client(
                    "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=self._config(16)
                )
            return self._sync_client

    async def close(self) -> None:
        if self._client_cm is not None:
            cm, self._client_cm, self._client = self._client_cm, None, None
            await cm.__aexit__(None, None, None)
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None

    async def ping(self) -> None:
        await (await self._s3()).head_bucket(Bucket=self.bucket)

    # Names, all derived from server-made keys -----------------------------------------------------------
    def _object_key(self, key: str) -> str:
        if not _OBJECT_KEY.match(key):
            raise ValueError(f"not an object key: {key!r}")
        return f"{self.prefix}objects/{key}"

    def _final_key(self, upload_key: str) -> str:
        return object_key(upload_key)

    def _parts_prefix(self, upload_key: str) -> str:
        return f"{self.prefix}uploads/{check_upload_key(upload_key)}/"

    def _part_key(self, upload_key: str, part: PartRef) -> str:
        if not part.key.isdigit():
            raise ValueError(f"not a part key: {part.key!r}")
        return self._parts_prefix(upload_key) + part.key

    # Uploads ----------------------------------------------------------------------------------------------
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
        body = _Body(blocks, length_hint)
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

    def _plan_in_place(self, upload_key: str, parts: list[PartRef]) -> list[_Group] | None:
        """The parts of the finished object: large parts as they are, runs of small ones joined.

        None when a run of small chunks under 5 MiB sits before a large part, or part numbers are not
        ascending: then the upload cannot be completed in one round.
        """
        groups: list[_Group] = []
        run: list[PartRef] = []

        def close_run(last: bool) -> bool:
            if not run:
                return True
            size = sum(p.size for p in run)
            if size < MIN_PART and not last:
                return False
            pieces = [_Piece(self._part_key(upload_key, p), 0, p.size) for p in run]
            used = 0
            for chunk in _split(pieces, JOIN_TARGET):
                # A joined part takes its first chunk's number: never used for a part in S3, and in order.
                groups.append(_Group(number=run[used].number, pieces=chunk))
                used += len(chunk)
            run.clear()
            return True

        for part in parts:
            if part.key:
                run.append(part)
                continue
            if not close_run(last=False):
                return None
            groups.append(_Group(number=part.number, native=part))
        if not close_run(last=True):
            return None
        numbers = [g.number for g in groups]
        if any(b <= a for a, b in itertools.pairwise(numbers)) or numbers[-1] > MAX_PART_NUMBER:
            return None
        return groups

    async def _assemble(self, key: str, upload_id: str, groups: list[_Group]) -> None:
        s3 = await self._s3()
        limit = asyncio.Semaphore(JOIN_CONCURRENCY)

        async def build(group: _Group) -> dict[str, Any]:
            if group.native is not None:
                return {"PartNumber": group.number, "ETag": group.native.etag}
            pieces = group.pieces or []
            async with limit:
                if len(pieces) == 1:
                    # One object: S3 copies it into the part itself, no bytes pass through here.
                    piece = pieces[0]
                    reply = await s3.upload_part_copy(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=group.number,
                        CopySource={"Bucket": self.bucket, "Key": piece.key},
                        CopySourceRange=f"bytes={piece.start}-{piece.end - 1}",
                    )
                    return {"PartNumber": group.number, "ETag": reply["CopyPartResult"]["ETag"]}
                body = _Body(
                    self._stream_pieces(pieces), group.size, restart=lambda: self._stream_pieces(pieces)
                )
                try:
                    reply = await s3.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=group.number,
                        Body=body,
                        ContentLength=group.size,
                    )
                except BaseException:
                    await body.close()
                    raise
                await body.finish()
                return {"PartNumber": group.number, "ETag": reply["ETag"]}

        built = await _gather_all([build(g) for g in groups])
        await s3.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": built}
        )

    async def _stream_pieces(self, pieces: list[_Piece]) -> AsyncIterator[bytes]:
        for piece in pieces:
            async for block in self._get(piece.key, piece.start, piece.end):
                yield block

    async def _complete_in_two_rounds(self, upload_key: str, upload_id: str, parts: list[PartRef]) -> str:
        """Completes the large parts alone, then rebuilds the whole object from it and the small chunks.

        S3 cannot read a part before its upload is complete, so a small chunk wedged between large parts
        can only be joined to their bytes afterwards. Costs a copy of the object; only clients that mix
        chunks of 5 MiB and more with smaller ones in the middle of an upload get here.
        """
        final = self._final_key(upload_key) + ".j"
        if not await self._exists(self._object_key(final)):
            try:
                await self._join_in_two_rounds(upload_key, upload_id, parts)
            except Exception:
                # Another request joined it first and may have removed what this one was reading.
                if not await self._exists(self._object_key(final)):
                    raise
        await self._remove_parts_after_completion(upload_key)
        return final

    async def _join_in_two_rounds(self, upload_key: str, upload_id: str, parts: list[PartRef]) -> None:
        first = self._final_key(upload_key)
        natives = [p for p in parts if not p.key]
        s3 = await self._s3()
        if not natives:
            await self._abort(upload_key, upload_id)
        else:
            try:
                await s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self._object_key(first),
                    UploadId=upload_id,
                    MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in natives]},
                )
            except Exception as exc:
                if _error_code(exc) not in _NO_UPLOAD or not await self._exists(self._object_key(first)):
                    raise
        pieces: list[_Piece] = []
        offset = 0
        for part in parts:
            if part.key:
                pieces.append(_Piece(self._part_key(upload_key, part), 0, part.size))
            else:
                pieces.append(_Piece(self._object_key(first), offset, offset + part.size))
                offset += part.size
        groups = [
            _Group(number=i, pieces=chunk) for i, chunk in enumerate(_split(pieces, JOIN_TARGET), start=1)
        ]
        target = self._object_key(first + ".j")
        second = (await s3.create_multipart_upload(Bucket=self.bucket, Key=target))["UploadId"]
        try:
            await self._assemble(target, second, groups)
        except BaseException:
            with contextlib.suppress(Exception):
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=target, UploadId=second)
            raise
        await self.delete(first)

    async def is_completed(self, upload_key: str, state: dict[str, Any]) -> bool:
        final = self._object_key(self._final_key(upload_key))
        return await self._exists(final) or await self._exists(final + ".j")

    async def abort_upload(self, upload_key: str, state: dict[str, Any], parts: list[PartRef]) -> None:
        await self._abort(upload_key, state.get("upload_id", ""))
        await self._remove_parts(upload_key)

    async def _abort(self, upload_key: str, upload_id: str) -> None:
        if not upload_id:
            return
        s3 = await self._s3()
        try:
            await s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self._object_key(self._final_key(upload_key)), UploadId=upload_id
            )
        except Exception as exc:
            if _error_code(exc) not in _NO_UPLOAD:
                raise

    async def _remove_parts_after_completion(self, upload_key: str) -> None:
        # The file exists now: failing to tidy up must not fail its finalize (a retry tidies up again).
        try:
            await self._remove_parts(upload_key)
        except Exception:
            log.warning("could not remove the chunk objects of upload %s", upload_key, exc_info=True)

    async def _remove_parts(self, upload_key: str) -> None:
        """Deletes every chunk object of an upload, including attempts that were never committed."""
        s3 = await self._s3()
        prefix = self._parts_prefix(upload_key)
        while True:
            listing = await s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1000)
            keys = [{"Key": item["Key"]} for item in listing.get("Contents", [])]
            if not keys:
                return
            reply = await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
            if reply.get("Errors"):
                raise OSError(f"could not delete {len(reply['Errors'])} chunk objects of upload {upload_key}")

    # Objects ----------------------------------------------------------------------------------------------
    async def _exists(self, full_key: str) -> bool:
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=full_key)
        except Exception as exc:
            if _error_code(exc) in _NO_KEY:
                return False
            raise
        return True

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        async for block in self._get(self._object_key(key), start, end):
            yield block

    async def _get(self, full_key: str, start: int, end: int | None) -> AsyncIterator[bytes]:
        if end is not None and end <= start:
            return
        s3 = await self._s3()
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": full_key}
        if start > 0 or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            reply = await s3.get_object(**request)
        except Exception as exc:
            code = _error_code(exc)
            if code in _NO_KEY:
                raise FileNotFoundError(full_key) from None
            if code == "InvalidRange":
                return  # starts at or past the end (an empty object, or an empty tail)
            raise
        body = reply["Body"]
        async with body:
            async for block in body.iter_chunks(READ_BLOCK):
                if block:
                    yield block

    def reader(self, key: str) -> BinaryIO:
        raw = _RangeReader(self._blocking_s3(), self.bucket, self._object_key(key))
        return io.BufferedReader(raw, buffer_size=READ_BLOCK)  # type: ignore[return-value]

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=self._object_key(key))


def _client_options(
    endpoint_url: str | None, region: str | None, addressing_style: str | None
) -> tuple[str | None, str | None, str]:
    # The AWS SDK reads its own variables (credentials, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL); these
    # two are looked at here only because botocore does not know AWS_REGION, and because a custom
    # endpoint (SeaweedFS, MinIO, Ceph) usually wants path-style addressing.
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if region is None and not os.environ.get("AWS_DEFAULT_REGION"):
        region = os.environ.get("AWS_REGION")
    if addressing_style is None:
        addressing_style = "path" if endpoint_url else "auto"
    elif addressing_style not in ("path", "virtual", "auto"):
        raise ValueError(f"addressing must be path, virtual or auto, not {addressing_style!r}")
    return endpoint_url, region, addressing_style


def _temporary_file() -> BinaryIO:
    return tempfile.TemporaryFile(prefix="gemfiles-part-")


def _split(pieces: list[_Piece], target: int) -> list[list[_Piece]]:
    """Cuts pieces into consecutive groups of about ``target`` bytes, each at least MIN_PART but the last."""
    groups: list[list[_Piece]] = []
    current: list[_Piece] = []
    size = 0
    for piece in pieces:
        current.append(piece)
        size += piece.size
        if size >= target:
            groups.append(current)
            current, size = [], 0
    if current:
        if groups and size < MIN_PART:
            groups[-1].extend(current)  # a short tail joins the group before it
        else:
            groups.append(current)
    return groups


async def _gather_all(jobs: list[Awaitable[dict[str, Any]]]) -> list[dict[str, Any]]:
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class _RangeReader(io.RawIOBase):
    """A blocking, seekable view of an object: ranged GETs of READ_AHEAD bytes, the last one kept."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._pos = 0
        self._size: int | None = None
        self._buffer = b""
        self._buffer_start = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    @property
    def size(self) -> int:
        if self._size is None:
            try:
                head = self._client.head_object(Bucket=self._bucket, Key=self._key)
            except Exception as exc:
                if _error_code(exc) in _NO_KEY:
                    raise FileNotFoundError(self._key) from None
                raise
            self._size = int(head["ContentLength"])
        return self._size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            base = 0
        elif whence == io.SEEK_CUR:
            base = self._pos
        elif whence == io.SEEK_END:
            base = self.size
        else:
            raise ValueError(f"invalid whence {whence}")
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self.size or not len(view):
            return 0
        within = self._pos - self._buffer_start
        if not 0 <= within < len(self._buffer):
            self._fill(max(len(view), READ_AHEAD))
            within = 0
        count = min(len(view), len(self._buffer) - within)
        view[:count] = self._buffer[within : within + count]
        self._pos += count
        return count

    def _fill(self, length: int) -> None:
        end = min(self.size, self._pos + length) - 1
        reply = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-{end}")
        with contextlib.closing(reply["Body"]) as body:
            data = body.read()
        if not data:
            raise OSError(f"{self._key} is shorter than it was")
        self._buffer, self._buffer_start = data, self._pos


__all__ = ["PartUnreadable", "S3BlobStore"]
