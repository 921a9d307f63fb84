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
from gemfiles.domain.schemas import from_openapi


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


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A model turn's request to run a declared function; ``id`` pairs it with its response."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionResponse:
    """A user turn's result of running a function the model called."""

    name: str
    response: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


DraftPart = str | FileRef | InlineData | FunctionCall | FunctionResponse


@dataclass(slots=True)
class Draft:
    """One turn of a request before resolution: text, file references, inline bytes, function calls and
    function results."""

    role: Literal["user", "model"]
    parts: list[DraftPart] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Part:
    kind: Literal["text", "file", "inline", "function_call", "function_response"]
    text: str | None = None
    file: ResolvedFile | None = None
    inline: InlineData | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None


@dataclass(slots=True)
class Message:
    role: Literal["user", "model"]
    parts: list[Part]


@dataclass(frozen=True, slots=True)
class FunctionDeclaration:
    """A tool the model may call. ``parameters`` is Google's OpenAPI subset (upper-case type names,
    ``nullable``); ``parameters_json_schema`` is JSON Schema. At most one of them is set."""

    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None
    parameters_json_schema: dict[str, Any] | None = None

    def json_schema(self) -> dict[str, Any]:
        """The parameters as JSON Schema (an object taking nothing when none were declared)."""
        if self.parameters_json_schema is not None:
            return self.parameters_json_schema
        if self.parameters is not None:
            return from_openapi(self.parameters)
        return {"type": "object", "properties": {}}


FunctionCallingMode = Literal["AUTO", "ANY", "NONE", "VALIDATED"]


@dataclass(frozen=True, slots=True)
class FunctionCallingConfig:
    """``toolConfig.functionCallingConfig``: AUTO (the default; MODE_UNSPECIFIED means AUTO) lets the model
    choose, ANY forces a call, NONE forbids one, VALIDATED is AUTO with calls checked against the schema."""

    mode: FunctionCallingMode = "AUTO"
    allowed_function_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """What the answer must look like: ``responseMimeType`` with ``responseSchema`` (OpenAPI subset) or
    ``responseJsonSchema`` (JSON Schema); ``text/x.enum`` answers one value of the schema's ``enum``."""

    mime_type: str = "text/plain"
    schema: dict[str, Any] | None = None
    json_schema: dict[str, Any] | None = None

    @property
    def is_json(self) -> bool:
        return self.mime_type == "application/json"

    @property
    def is_enum(self) -> bool:
        return self.mime_type == "text/x.enum"

    def effective_schema(self) -> dict[str, Any] | None:
        """The schema as JSON Schema, or None when none was given."""
        if self.json_schema is not None:
            return self.json_schema
        if self.schema is not None:
            return from_openapi(self.schema)
        return None


@dataclass(slots=True)
class ModelRequest:
    model: str  # the model id as the client named it, without "models/"
    messages: list[Message]
    system_instruction: str | None = None
    generation_config: dict[str, Any] = field(default_factory=dict)
    # Input tokens of the cached contents the messages start with (context caching), for usageMetadata.
    cached_tokens: int = 0
    tools: tuple[FunctionDeclaration, ...] = ()
    tool_config: FunctionCallingConfig = field(default_factory=FunctionCallingConfig)
    response_format: ResponseFormat = field(default_factory=ResponseFormat)


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


@dataclass(frozen=True, slots=True)
class FunctionCalled:
    """The model asks to run a function (a ``functionCall`` part of the answer)."""

    call: FunctionCall


OutputEvent = TextDelta | FunctionCalled | Finished
