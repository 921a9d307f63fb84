"""The storage ports in memory (``memory://name``): a twin of SQL + local disk for the domain's unit tests.

Stores opened on the same name share their contents, as two replicas share a database and a bucket, so
the contract suite (tests/contract) runs on this twin exactly as on the real stores. Each method does its
work without awaiting in between, so on one event loop every method is one atomic transaction. The bytes
live in this process: probes in child processes cannot open them, so this is for tests, not for serving.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from gemfiles.domain.clock import to_micros
from gemfiles.domain.models import (
    Activity,
    FileRecord,
    FileState,
    PartRef,
    ProjectUsage,
    SessionStatus,
    UploadSession,
)
from gemfiles.domain.ports import (
    ApiKeyRecord,
    GcItem,
    NameTaken,
    QuotaRefused,
    SessionGone,
    StoredBlob,
)
from gemfiles.domain.refusals import name_taken_result
from gemfiles.storage.memory_blobs import _BUCKETS, MemoryBlobStore, bucket_name


# Metadata ----------------------------------------------------------------------------------------------------
@dataclass
class _StoredFile:
    record: FileRecord
    probe_due: bool
    lease_until: datetime | None = None


@dataclass
class _Database:
    files: dict[tuple[str, str], _StoredFile] = field(default_factory=dict)
    sessions: dict[str, UploadSession] = field(default_factory=dict)
    usage: dict[str, list[int]] = field(default_factory=dict)  # project -> [used, reserved]
    gc: dict[int, tuple[GcItem, datetime | None]] = field(default_factory=dict)
    gc_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    keys: dict[str, ApiKeyRecord] = field(default_factory=dict)
    quotas: dict[str, int] = field(default_factory=dict)  # a project's own quota
    inline: dict[str, tuple[bytes, datetime]] = field(default_factory=dict)  # small files' bytes


_DATABASES: dict[str, _Database] = {}


def _copy_session(session: UploadSession) -> UploadSession:
    return replace(session, blob_state=dict(session.blob_state), parts=list(session.parts))


class MemoryMetadataStore:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self._db = _DATABASES.setdefault(name, _Database())

    @classmethod
    def from_url(cls, url: str) -> MemoryMetadataStore:
        return cls(bucket_name(url))

    @property
    def url(self) -> str:
        return f"memory://{self.name}"

    async def migrate(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    # Files -----------------------------------------------------------------------------------------------
    def _live(self, project: str, file_id: str, now: datetime) -> _StoredFile | None:
        stored = self._db.files.get((project, file_id))
        return stored if stored is not None and stored.record.expire_time > now else None

    async def get_file(self, project: str, file_id: str, now: datetime) -> FileRecord | None:
        stored = self._live(project, file_id, now)
        return replace(stored.record) if stored else None

    async def list_files(
        self, project: str, now: datetime, limit: int, after: tuple[int, str] | None
    ) -> list[FileRecord]:
        records = [
            s.record for (p, _), s in self._db.files.items() if p == project and s.record.expire_time > now
        ]
        records.sort(key=lambda r: (to_micros(r.create_time), r.id), reverse=True)
        if after is not None:
            records = [r for r in records if (to_micros(r.create_time), r.id) < after]
        return [replace(r) for r in records[:limit]]

    async def delete_file(self, project: str, file_id: str, now: datetime) -> FileRecord | None:
        stored = self._live(project, file_id, now)
        if stored is None:
            return None
        self._drop_files([stored.record], now)
        return replace(stored.record)

    def _drop_files(self, records: list[FileRecord], now: datetime) -> None:
        for record in records:
            del self._db.files[(record.project, record.id)]
            self._add_usage(record.project, used=-record.size_bytes)
            self._queue_gc("object", record.blob_key, {})

    # Quota -----------------------------------------------------------------------------------------------
    def _usage(self, project: str) -> list[int]:
        return self._db.usage.setdefault(project, [0, 0])

    def _reserve(self, project: str, amount: int, quota: int) -> None:
        if amount <= 0:
            return
        usage = self._usage(project)
        quota = self._db.quotas.get(project, quota)
        if usage[0] + usage[1] + amount > quota:
            raise QuotaRefused(project, amount, quota)
        usage[1] += amount

    def _add_usage(self, project: str, *, used: int = 0, reserved: int = 0) -> None:
        usage = self._usage(project)
        usage[0] += used
        usage[1] += reserved

    async def get_usage(self, project: str) -> ProjectUsage:
        used, reserved = self._db.usage.get(project, [0, 0])
        return ProjectUsage(project, used, reserved, self._db.quotas.get(project))

    async def set_quota(self, project: str, quota_bytes: int | None) -> None:
        if quota_bytes is None:
            self._db.quotas.pop(project, None)
        else:
            self._db.quotas[project] = quota_bytes

    async def list_projects(self, now: datetime) -> list[ProjectUsage]:
        counts: dict[str, int] = {}
        for (project, _), stored in self._db.files.items():
            if stored.record.expire_time > now:
                counts[project] = counts.get(project, 0) + 1
        names = {p for p, (used, reserved) in self._db.usage.items() if used or reserved}
        names |= set(self._db.quotas) | set(counts)
        usage = self._db.usage
        return [
            ProjectUsage(
                project,
                usage.get(project, [0, 0])[0],
                usage.get(project, [0, 0])[1],
                self._db.quotas.get(project),
                counts.get(project, 0),
            )
            for project in sorted(names)
        ]

    async def activity(self, now: datetime) -> Activity:
        sessions = sum(
            1 for s in self._db.sessions.values() if s.status == SessionStatus.ACTIVE and s.expire_time > now
        )
        return Activity(sessions, sum(1 for stored in self._db.files.values() if stored.probe_due))

    async def sessions_in_progress(self, now: datetime, limit: int) -> list[UploadSession]:
        active = [
            s for s in self._db.sessions.values() if s.status == SessionStatus.ACTIVE and s.expire_time > now
        ]
        active.sort(key=lambda s: s.create_time, reverse=True)
        return [_copy_session(s) for s in active[:limit]]

    async def create_file(
        self, file: FileRecord, quota_bytes: int, now: datetime, inline: bytes | None = None
    ) -> FileRecord:
        existing = self._db.files.get((file.project, file.id))
        if existing is not None and existing.record.expire_time > now:
            raise NameTaken(file.project, file.id)
        usage = self._usage(file.project)
        freed = existing.record.size_bytes if existing is not None else 0
        quota_bytes = self._db.quotas.get(file.project, quota_bytes)  # the project's own, if it has one
        if usage[0] + usage[1] - freed + file.size_bytes > quota_bytes:
            raise QuotaRefused(file.project, file.size_bytes, quota_bytes)
        if existing is not None:
            self._drop_files([existing.record], now)  # expired, not swept yet: make room
        self._db.files[(file.project, file.id)] = _StoredFile(replace(file), probe_due=file.facts is None)
        self._add_usage(file.project, used=file.size_bytes)
        if inline is not None:
            self._db.inline[file.blob_key] = (bytes(inline), now)
        return file

    async def read_inline(self, key: str) -> bytes | None:
        stored = self._db.inline.get(key)
        return stored[0] if stored is not None else None

    async def delete_inline(self, key: str) -> None:
        self._db.inline.pop(key, None)

    async def inline_blobs(self, after: str, limit: int) -> list[StoredBlob]:
        keys = sorted(k for k in self._db.inline if k > after)[:limit]
        return [StoredBlob("object", k, len(self._db.inline[k][0]), self._db.inline[k][1]) for k in keys]

    # Upload sessions -------------------------------------------------------------------------------------
    async def create_session(self, session: UploadSession, quota_bytes: int, now: datetime) -> None:
        if self._live(session.project, session.file_id, now) is not None:
            raise NameTaken(session.project, session.file_id)
        self._reserve(session.project, session.reserved_bytes, quota_bytes)
        self._db.sessions[session.token_digest] = _copy_session(session)

    async def get_session(self, token_digest: str) -> UploadSession | None:
        session = self._db.sessions.get(token_digest)
        return _copy_session(session) if session else None

    async def allocate_part(self, token_digest: str) -> int:
        session = self._db.sessions.get(token_digest)
        if session is None:
            raise SessionGone(token_digest)
        # The new value, never the session's current next_part, which an attempt may be using unallocated.
        session.next_part += 1
        return session.next_part

    async def commit_part(
        self,
        token_digest: str,
        expected_received: int,
        part: PartRef,
        hash_state: bytes | None,
        extra_reserve: int,
        quota_bytes: int,
        now: datetime,
    ) -> bool:
        session = self._db.sessions.get(token_digest)
        if session is None or session.status != SessionStatus.ACTIVE or session.received != expected_received:
            return False
        self._reserve(session.project, extra_reserve, quota_bytes)
        session.received = expected_received + part.size
        session.parts = [*session.parts, part]
        session.next_part = max(session.next_part, part.number + 1)
        session.hash_state = hash_state
        session.reserved_bytes += extra_reserve
        return True

    async def finish_session(self, token_digest: str, file: FileRecord, now: datetime) -> FileRecord:
        session = self._db.sessions.get(token_digest)
        if session is None or session.status != SessionStatus.ACTIVE:
            raise SessionGone(token_digest)
        existing = self._db.files.get((file.project, file.id))
        if existing is not None and existing.record.expire_time > now:
            self._end_session(session, SessionStatus.FAILED, name_taken_result(file.id), now)
            self._queue_gc("object", file.blob_key, {})
            raise NameTaken(file.project, file.id)
        if existing is not None:
            self._drop_files([existing.record], now)  # expired, not swept yet: make room
        self._db.files[(file.project, file.id)] = _StoredFile(replace(file), probe_due=file.facts is None)
        self._add_usage(file.project, used=file.size_bytes, reserved=-session.reserved_bytes)
        session.status = SessionStatus.FINAL
        session.reserved_bytes = 0
        return file

    async def finish_whole(
        self,
        token_digest: str,
        file: FileRecord,
        quota_bytes: int,
        now: datetime,
        inline: bytes | None = None,
    ) -> FileRecord | None:
        session = self._db.sessions.get(token_digest)
        if session is None or session.status != SessionStatus.ACTIVE or session.received != 0:
            return None
        extra = file.size_bytes if session.declared_size is None else 0
        self._reserve(session.project, extra, quota_bytes)
        session.reserved_bytes += extra
        session.received = file.size_bytes
        done = await self.finish_session(token_digest, file, now)
        if inline is not None:
            self._db.inline[file.blob_key] = (bytes(inline), now)
        return done

    def _end_session(
        self, session: UploadSession, status: SessionStatus, error: dict[str, Any] | None, now: datetime
    ) -> None:
        self._add_usage(session.project, reserved=-session.reserved_bytes)
        state = {"blob_state": session.blob_state, "parts": [p.to_json() for p in session.parts]}
        session.status = status
        session.reserved_bytes = 0
        session.result_error = error
        session.parts = []
        self._queue_gc("upload", session.upload_key, state)

    async def fail_session(self, token_digest: str, error: dict[str, Any], now: datetime) -> bool:
        return self._end_if_active(token_digest, SessionStatus.FAILED, error, now)

    async def cancel_session(self, token_digest: str, now: datetime) -> bool:
        return self._end_if_active(token_digest, SessionStatus.CANCELLED, None, now)

    def _end_if_active(
        self, token_digest: str, status: SessionStatus, error: dict[str, Any] | None, now: datetime
    ) -> bool:
        session = self._db.sessions.get(token_digest)
        if session is None or session.status != SessionStatus.ACTIVE:
            return False
        self._end_session(session, status, error, now)
        return True

    # Background work -------------------------------------------------------------------------------------
    async def claim_probe(self, now: datetime, lease_seconds: float) -> FileRecord | None:
        due = [
            s
            for s in self._db.files.values()
            if s.probe_due and s.record.expire_time > now and (s.lease_until is None or s.lease_until < now)
        ]
        if not due:
            return None
        # Files waiting to become usable (PROCESSING) before facts-only probes.
        due.sort(key=lambda s: (s.record.state != FileState.PROCESSING, s.record.create_time))
        due[0].lease_until = now + timedelta(seconds=lease_seconds)
        return replace(due[0].record)

    async def save_probe(
        self,
        project: str,
        file_id: str,
        state: FileState,
        facts: dict[str, Any] | None,
        error: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        stored = self._db.files.get((project, file_id))
        if stored is None:
            return
        record = stored.record
        # Facts alone are not a change a client can see: updateTime moves with the state only.
        update_time = now if record.state != state else record.update_time
        stored.record = replace(record, state=state, facts=facts, error=error, update_time=update_time)
        stored.probe_due = False
        stored.lease_until = None

    async def sweep_expired_files(self, now: datetime, limit: int) -> list[FileRecord]:
        expired = sorted(
            (s.record for s in self._db.files.values() if s.record.expire_time <= now),
            key=lambda r: r.expire_time,
        )[:limit]
        self._drop_files(expired, now)
        return [replace(r) for r in expired]

    async def sweep_expired_sessions(self, now: datetime, limit: int) -> int:
        expired = sorted(
            (s for s in self._db.sessions.values() if s.expire_time <= now), key=lambda s: s.expire_time
        )[:limit]
        for session in expired:
            if session.status == SessionStatus.ACTIVE:
                self._end_session(session, SessionStatus.CANCELLED, None, now)
            del self._db.sessions[session.token_digest]
        return len(expired)

    def _queue_gc(self, kind: str, key: str, state: dict[str, Any]) -> None:
        item_id = next(self._db.gc_ids)
        self._db.gc[item_id] = (GcItem(item_id, kind, key, state), None)

    async def claim_gc(self, now: datetime, lease_seconds: float, limit: int) -> list[GcItem]:
        free = [item for item, lease in self._db.gc.values() if lease is None or lease < now][:limit]
        until = now + timedelta(seconds=lease_seconds)
        for item in free:
            self._db.gc[item.id] = (item, until)
        return free

    async def finish_gc(self, ids: list[int]) -> None:
        for item_id in ids:
            self._db.gc.pop(item_id, None)

    async def blob_keys_in_use(self, object_keys: list[str], upload_keys: list[str]) -> set[str]:
        asked = set(object_keys) | set(upload_keys)
        named = {s.record.blob_key for s in self._db.files.values()}
        named |= {s.upload_key for s in self._db.sessions.values() if s.status == SessionStatus.ACTIVE}
        named |= {item.key for item, _ in self._db.gc.values()}
        return asked & named

    # Keys ------------------------------------------------------------------------------------------------
    async def create_key(self, key_hash: str, project: str, prefix: str, now: datetime) -> None:
        if key_hash in self._db.keys:
            raise ValueError("an API key of this hash exists")
        self._db.keys[key_hash] = ApiKeyRecord(key_hash, project, prefix, now, None)

    async def list_keys(self) -> list[ApiKeyRecord]:
        return sorted(self._db.keys.values(), key=lambda k: k.create_time)

    async def revoke_key(self, prefix_or_hash: str, now: datetime) -> int:
        hits = [
            k
            for k in self._db.keys.values()
            if prefix_or_hash in (k.prefix, k.key_hash) and k.revoke_time is None
        ]
        for key in hits:
            self._db.keys[key.key_hash] = replace(key, revoke_time=now)
        return len(hits)

    async def lookup_key(self, key_hash: str) -> str | None:
        key = self._db.keys.get(key_hash)
        return key.project if key is not None and key.revoke_time is None else None


def forget(name: str) -> None:
    """Drops the contents kept under ``name`` (tests call it when done with a store)."""
    _DATABASES.pop(name, None)
    _BUCKETS.pop(name, None)


__all__ = ["MemoryBlobStore", "MemoryMetadataStore", "forget"]
