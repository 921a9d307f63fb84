"""The S3 store's clients, names and object primitives, shared by its upload and join code."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import AsyncIterator
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from gemfiles.domain.models import PartRef
from gemfiles.storage.parts import check_upload_key, object_key

log = logging.getLogger("gemfiles.storage.s3")

READ_BLOCK = 1024 * 1024

_OBJECT_KEY = re.compile(r"^[0-9A-Za-z]{2}/[0-9A-Za-z]+(\.j)?$")
NO_UPLOAD = ("NoSuchUpload", "404")
NO_KEY = ("NoSuchKey", "404", "NotFound")


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    return str(error.get("Code", ""))


class S3Client:
    """One bucket and prefix: an aiobotocore client (and a boto3 one for blocking readers), key names."""

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
        self.endpoint_url, self.region, self.addressing_style = client_options(
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
    def from_url(cls, url: str) -> Self:
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

    # Objects ----------------------------------------------------------------------------------------------
    async def _exists(self, full_key: str) -> bool:
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=full_key)
        except Exception as exc:
            if error_code(exc) in NO_KEY:
                return False
            raise
        return True

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
            code = error_code(exc)
            if code in NO_KEY:
                raise FileNotFoundError(full_key) from None
            if code == "InvalidRange":
                return  # starts at or past the end (an empty object, or an empty tail)
            raise
        body = reply["Body"]
        async with body:
            async for block in body.iter_chunks(READ_BLOCK):
                if block:
                    yield block

    async def _abort(self, upload_key: str, upload_id: str) -> None:
        if not upload_id:
            return
        s3 = await self._s3()
        try:
            await s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self._object_key(self._final_key(upload_key)), UploadId=upload_id
            )
        except Exception as exc:
            if error_code(exc) not in NO_UPLOAD:
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

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=self._object_key(key))


def client_options(
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
