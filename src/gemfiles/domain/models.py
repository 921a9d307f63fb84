"""The domain's plain objects. snake_case, ints and aware UTC datetimes; the wire shapes live in protocol/."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gemfiles.domain.mime import file_kind


class FileState(enum.StrEnum):
    PROCESSING = "PROCESSING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"


class FileSource(enum.StrEnum):
    UPLOADED = "UPLOADED"
    GENERATED = "GENERATED"


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    FINAL = "final"
    CANCELLED = "cancelled"
    # Finalize refused the content (e.g. an unsupported MIME type); the reply is replayed, status "final".
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PartRef:
    """One committed chunk of an upload, as its blob store names it."""

    number: int
    size: int
    etag: str = ""
    # Where a store keeps a part outside its native multipart mechanism (e.g. an S3 part under 5 MiB).
    key: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.number, "size": self.size}
        if self.etag:
            out["etag"] = self.etag
        if self.key:
            out["key"] = self.key
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartRef:
        return cls(
            number=int(data["n"]), size=int(data["size"]), etag=data.get("etag", ""), key=data.get("key", "")
        )


@dataclass(slots=True, frozen=True)
class FileRecord:
    """A file's metadata. Frozen: the SQL store hands the same record to every read of an unchanged row
    (``storage.sql_rows.FileRecords``), and the protocol keeps its rendering beside it."""

    project: str
    id: str
    mime_type: str
    size_bytes: int
    sha256_hex: str
    create_time: datetime
    update_time: datetime
    expire_time: datetime
    blob_key: str
    state: FileState = FileState.ACTIVE
    source: FileSource = FileSource.UPLOADED
    display_name: str | None = None
    error: dict[str, Any] | None = None
    # What the media layer learned from the bytes (duration, dimensions, pages, ...); None until probed.
    facts: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"files/{self.id}"

    @property
    def video_duration_seconds(self) -> float | None:
        if self.facts and file_kind(self.mime_type) == "video":
            duration = self.facts.get("duration_seconds")
            return float(duration) if duration is not None else None
        return None


@dataclass(slots=True)
class UploadSession:
    token_digest: str
    project: str
    file_id: str
    mime_type: str
    display_name: str | None
    declared_size: int | None
    reserved_bytes: int
    received: int
    status: SessionStatus
    create_time: datetime
    expire_time: datetime
    blob_state: dict[str, Any] = field(default_factory=dict)
    parts: list[PartRef] = field(default_factory=list)
    next_part: int = 1
    hash_state: bytes | None = None
    # For a finished session: the file it made, or the error its finalize gave (replayed on retries).
    result_error: dict[str, Any] | None = None

    @property
    def upload_key(self) -> str:
        """The blob store's name for this session's bytes (stable across replicas and restarts)."""
        return self.token_digest[:40]


@dataclass(frozen=True, slots=True)
class Page:
    files: list[FileRecord]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class ProjectUsage:
    project: str
    used_bytes: int
    reserved_bytes: int
    # The project's own quota (None: the server's default applies) and its unexpired files (when listed).
    quota_bytes: int | None = None
    files: int = 0

    def quota(self, default: int) -> int:
        """The quota that applies to this project."""
        return default if self.quota_bytes is None else self.quota_bytes


@dataclass(frozen=True, slots=True)
class Activity:
    """Work in progress across the whole store (every replica): gauges read at scrape time."""

    sessions_active: int
    probes_due: int
