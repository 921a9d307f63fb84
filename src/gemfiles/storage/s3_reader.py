"""A blocking, seekable view of an S3 object for media probes (run in worker threads)."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from gemfiles.storage.s3_client import NO_KEY, error_code

READ_AHEAD = 4 * 1024 * 1024  # what reader() fetches per ranged GET


class RangeReader(io.RawIOBase):
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
                if error_code(exc) in NO_KEY:
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
