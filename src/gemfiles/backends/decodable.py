"""What the decoders (``transcode``) get of a source: picklable, for the child process they run in."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from gemfiles.domain.mime import base_type
from gemfiles.media.isolated import blob_store


@dataclass(frozen=True, slots=True)
class Decodable:
    """A file or inline bytes as a child process sees them: it opens the bytes itself, from the blob
    store's URL and the file's key, or from inline data's bytes."""

    label: str
    mime_type: str
    facts: dict[str, Any]
    blob_url: str | None = None
    blob_key: str | None = None
    data: bytes | None = None

    @property
    def base_type(self) -> str:
        return base_type(self.mime_type)

    def reader(self) -> BinaryIO:
        """Blocking and seekable (PyAV, Pillow, pypdf read through it)."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.blob_url is not None and self.blob_key is not None
        return cast(BinaryIO, blob_store(self.blob_url).reader(self.blob_key))
