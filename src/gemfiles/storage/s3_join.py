"""Completing an S3 upload: runs of small chunks joined into parts of at least 5 MiB, in one or two rounds.

S3 refuses parts under 5 MiB except the last, so a chunk smaller than that is stored as its own object
and joined here: by UploadPartCopy when a run is one object, else by streaming the objects back into one
UploadPart. A run under 5 MiB wedged between two large parts cannot be joined to them before S3 has
assembled them, so that rare layout completes in two rounds (``_complete_in_two_rounds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

from gemfiles.domain.models import PartRef
from gemfiles.storage.s3_body import PartBody
from gemfiles.storage.s3_client import NO_UPLOAD, S3Client, error_code

MIN_PART = 5 * 1024 * 1024  # S3's minimum size of every part but the last
MAX_PART_NUMBER = 10_000
JOIN_TARGET = 16 * 1024 * 1024  # runs of small chunks are joined into parts of about this size
JOIN_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class Piece:
    """A byte range of an existing object: the raw material of one joined part."""

    key: str  # full S3 key
    start: int
    end: int  # exclusive

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(slots=True)
class Group:
    """One part of the completed upload: a part already in S3 (``native``) or pieces to join."""

    number: int
    native: PartRef | None = None
    pieces: list[Piece] | None = None

    @property
    def size(self) -> int:
        if self.native is not None:
            return self.native.size
        return sum(p.size for p in self.pieces or [])


class S3Joins(S3Client):
    def _plan_in_place(self, upload_key: str, parts: list[PartRef]) -> list[Group] | None:
        """The parts of the finished object: large parts as they are, runs of small ones joined.

        None when a run of small chunks under 5 MiB sits before a large part, or part numbers are not
        ascending: then the upload cannot be completed in one round.
        """
        groups: list[Group] = []
        run: list[PartRef] = []

        def close_run(last: bool) -> bool:
            if not run:
                return True
            size = sum(p.size for p in run)
            if size < MIN_PART and not last:
                return False
            pieces = [Piece(self._part_key(upload_key, p), 0, p.size) for p in run]
            used = 0
            for chunk in split_pieces(pieces, JOIN_TARGET):
                # A joined part takes its first chunk's number: never used for a part in S3, and in order.
                groups.append(Group(number=run[used].number, pieces=chunk))
                used += len(chunk)
            run.clear()
            return True

        for part in parts:
            if part.key:
                run.append(part)
                continue
            if not close_run(last=False):
                return None
            groups.append(Group(number=part.number, native=part))
        if not close_run(last=True):
            return None
        numbers = [g.number for g in groups]
        if any(b <= a for a, b in itertools.pairwise(numbers)) or numbers[-1] > MAX_PART_NUMBER:
            return None
        return groups

    async def _assemble(self, key: str, upload_id: str, groups: list[Group]) -> None:
        s3 = await self._s3()
        limit = asyncio.Semaphore(JOIN_CONCURRENCY)

        async def build(group: Group) -> dict[str, Any]:
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
                body = PartBody(
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

        built = await gather_all([build(g) for g in groups])
        await s3.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": built}
        )

    async def _stream_pieces(self, pieces: list[Piece]) -> AsyncIterator[bytes]:
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
                if error_code(exc) not in NO_UPLOAD or not await self._exists(self._object_key(first)):
                    raise
        pieces: list[Piece] = []
        offset = 0
        for part in parts:
            if part.key:
                pieces.append(Piece(self._part_key(upload_key, part), 0, part.size))
            else:
                pieces.append(Piece(self._object_key(first), offset, offset + part.size))
                offset += part.size
        groups = [
            Group(number=i, pieces=chunk)
            for i, chunk in enumerate(split_pieces(pieces, JOIN_TARGET), start=1)
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


def split_pieces(pieces: list[Piece], target: int) -> list[list[Piece]]:
    """Cuts pieces into consecutive groups of about ``target`` bytes, each at least MIN_PART but the last."""
    groups: list[list[Piece]] = []
    current: list[Piece] = []
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


async def gather_all(jobs: list[Awaitable[dict[str, Any]]]) -> list[dict[str, Any]]:
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
