"""The media ports: the ``Prober`` (facts of a file's bytes, learned without trusting them), the
``Previewer`` (a small picture of a file for the console, made the same way) and the ``TypeSniffer`` (the
type of an upload that named none, from its first bytes)."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

from gemfiles.domain.models import FileRecord, FileState


class ProbeResult(NamedTuple):
    """What a probe learned about a stored file, without touching the metadata.

    ``state``: ACTIVE, or FAILED for video and audio whose bytes are not what their type says; ``facts``:
    the facts (``{"probe_error": ...}`` when the bytes could not be read); ``error``: a google.rpc.Status
    for a FAILED file.
    """

    state: FileState
    facts: dict[str, Any]
    error: dict[str, Any] | None


@runtime_checkable
class Prober(Protocol):
    """Facts about a file's bytes (duration, dimensions, pages, ...), learned without trusting them."""

    async def probe(self, record: FileRecord) -> ProbeResult:
        """A stored file's state and facts (the background worker stores them with the file).

        An error reading the blob store propagates: it says nothing about the bytes.
        """
        ...

    async def facts(self, record: FileRecord) -> dict[str, Any]:
        """A file's facts: the stored ones, or computed now for a file not probed yet (nothing is stored)."""
        ...

    async def inline(self, mime_type: str, data: bytes) -> dict[str, Any]:
        """The facts of inline data in a model call."""
        ...


@runtime_checkable
class TypeSniffer(Protocol):
    """The MIME type an upload's first bytes show (its magic numbers), when it named none."""

    def mime_type(self, head: bytes) -> str | None:
        """A supported MIME type for bytes that start with ``head``, or None when they show none."""
        ...


class Preview(NamedTuple):
    """A small picture of a file: ``data`` in ``media_type`` (image/png or image/jpeg); ``note`` says what it
    shows when it is not the file itself (e.g. a PDF's first-page text, drawn)."""

    media_type: str
    data: bytes
    note: str | None = None


@runtime_checkable
class Previewer(Protocol):
    """Thumbnails of stored files (images, a video frame, a PDF's first page), made without trusting the bytes."""

    def can_preview(self, mime_type: str) -> bool:
        """Whether files of this type get a picture at all."""
        ...

    async def preview(self, record: FileRecord) -> Preview | None:
        """The file's picture (made once, then kept), or None when its bytes give none."""
        ...
