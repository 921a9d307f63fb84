"""The model-call vocabulary: a request with resolved parts in, a stream of output events out.

The protocol layer (generateContent, streamGenerateContent, countTokens, interactions) turns whatever
shape the SDKs sent into ``Draft`` turns; the generation service (``domain.generation``) resolves their
files (owned by the caller's project, unexpired, ACTIVE) into a ``ModelRequest`` for the backend the
routing table names, and the protocol layer renders the events it yields. A backend never sees HTTP or wire
JSON, so a new one (a ``gemini`` upstream, say) fits without touching the protocol layer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, Protocol

from gemfiles.domain.models import FileRecord


class BlobReader(Protocol):
    """What a resolved file needs of the blob store (``ports.BlobStore`` is one)."""

    @property
    def url(self) -> str: ...

    def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...

    def reader(self, key: str) -> BinaryIO: ...


@dataclass(frozen=True, slots=True)
class ResolvedFile:
    """An uploaded file a request refers to, with a way to stream its bytes from the blob store."""

    record: FileRecord
    blobs: BlobReader

    def open(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self.blobs.open(self.record.blob_key, start, end)

    def reader(self) -> BinaryIO:
        """Blocking and seekable; use from a worker thread (PyAV, pypdf)."""
        return self.blobs.reader(self.record.blob_key)


@dataclass(frozen=True, slots=True)
class InlineData:
    mime_type: str
    data: bytes
    # What the media layer learned from the bytes (as FileRecord.facts), when it could tell.
    facts: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file a request names, by uri or by name, before it is resolved (``domain.contents``)."""

    uri: str
    mime_type: str | None = None


DraftPart = str | FileRef | InlineData


@dataclass(slots=True)
class Draft:
    """One turn of a request before resolution: text, file references and inline bytes."""

    role: Literal["user", "model"]
    parts: list[DraftPart] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Part:
    kind: Literal["text", "file", "inline"]
    text: str | None = None
    file: ResolvedFile | None = None
    inline: InlineData | None = None


@dataclass(slots=True)
class Message:
    role: Literal["user", "model"]
    parts: list[Part]


@dataclass(slots=True)
class ModelRequest:
    model: str  # the model id as the client named it, without "models/"
    messages: list[Message]
    system_instruction: str | None = None
    generation_config: dict[str, Any] = field(default_factory=dict)
    # Input tokens of the cached contents the messages start with (context caching), for usageMetadata.
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ModalityCount:
    modality: Literal["TEXT", "IMAGE", "AUDIO", "VIDEO", "DOCUMENT"]
    tokens: int


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    input_by_modality: tuple[ModalityCount, ...] = ()
    cached_tokens: int = 0  # of input_tokens, those of cached contents (cachedContentTokenCount)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    usage: Usage
    finish_reason: Literal["STOP", "MAX_TOKENS", "SAFETY", "OTHER"] = "STOP"
    model_version: str | None = None


OutputEvent = TextDelta | Finished
