"""What the S3 store holds under its prefix, listed for the scrub (domain/scrub.py), page by page:

    objects/<k[:2]>/<key>[.j]       an object                  -> StoredBlob("object", "<k[:2]>/<key>[.j]")
    uploads/<key>/<n>               an upload's chunk objects  -> StoredBlob("upload", "<key>"), one per key
    a multipart upload on objects/  an unfinished upload       -> StoredBlob("upload", "<key>", upload id)

A multipart upload's time is when it began (S3 says no more without listing its parts), and its size is
not known (0). Keys that are not the store's own are left out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gemfiles.domain.ports import StoredBlob
from gemfiles.storage.s3_client import _OBJECT_KEY, NO_UPLOAD, S3Client, error_code

PAGE = 1000


class S3Inventory(S3Client):
    async def inventory(self) -> AsyncIterator[StoredBlob]:
        objects = f"{self.prefix}objects/"
        async for item in self._listed(objects):
            key = item["Key"][len(objects) :]
            if _OBJECT_KEY.match(key):
                yield StoredBlob("object", key, int(item["Size"]), item["LastModified"])
        async for blob in self._chunk_folders():
            yield blob
        async for upload in self._multipart_uploads(objects):
            key = upload["Key"][len(objects) :]
            if _OBJECT_KEY.match(key):
                stem = key.partition("/")[2].partition(".")[0]
                handle = {"upload_id": upload["UploadId"], "object": key}
                yield StoredBlob("upload", stem, 0, upload["Initiated"], handle)

    async def _listed(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        s3 = await self._s3()
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": PAGE}
        while True:
            reply = await s3.list_objects_v2(**request)
            for item in reply.get("Contents", []):
                yield item
            if not reply.get("IsTruncated"):
                return
            request["ContinuationToken"] = reply["NextContinuationToken"]

    async def _chunk_folders(self) -> AsyncIterator[StoredBlob]:
        """``uploads/<key>/<n>`` grouped by key (the listing is in key order): one entry per upload."""
        uploads = f"{self.prefix}uploads/"
        current: list[Any] = []  # [key, bytes, latest]
        async for item in self._listed(uploads):
            key, _, number = item["Key"][len(uploads) :].partition("/")
            if not (key.isalnum() and key.isascii() and number.isdigit()):
                continue
            if current and current[0] != key:
                yield StoredBlob("upload", current[0], current[1], current[2])
                current = []
            if not current:
                current = [key, 0, item["LastModified"]]
            current[1] += int(item["Size"])
            current[2] = max(current[2], item["LastModified"])
        if current:
            yield StoredBlob("upload", current[0], current[1], current[2])

    async def _multipart_uploads(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        s3 = await self._s3()
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxUploads": PAGE}
        while True:
            reply = await s3.list_multipart_uploads(**request)
            for upload in reply.get("Uploads", []):
                yield upload
            if not reply.get("IsTruncated"):
                return
            request["KeyMarker"] = reply.get("NextKeyMarker", "")
            request["UploadIdMarker"] = reply.get("NextUploadIdMarker", "")

    async def remove(self, blob: StoredBlob) -> None:
        if blob.kind == "object":
            await self.delete(blob.key)
        elif blob.handle.get("upload_id"):
            s3 = await self._s3()
            try:
                await s3.abort_multipart_upload(
                    Bucket=self.bucket,
                    Key=self._object_key(blob.handle["object"]),
                    UploadId=blob.handle["upload_id"],
                )
            except Exception as exc:
                if error_code(exc) not in NO_UPLOAD:
                    raise
        else:
            await self._remove_parts(blob.key)
