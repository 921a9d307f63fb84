"""Rows of the metadata tables to and from the domain's objects."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import orjson
from sqlalchemy.engine import Row

from gemfiles.domain.clock import from_micros, to_micros
from gemfiles.domain.models import FileRecord, FileSource, FileState, PartRef, SessionStatus, UploadSession


def parts_list(parts: list[PartRef]) -> list[dict[str, Any]]:
    return [p.to_json() for p in parts]


def parts_json(parts: list[PartRef]) -> str:
    return json.dumps(parts_list(parts), separators=(",", ":"))


def file_values(record: FileRecord) -> dict[str, Any]:
    return {
        "project": record.project,
        "id": record.id,
        "display_name": record.display_name,
        "mime_type": record.mime_type,
        "size_bytes": record.size_bytes,
        "sha256_hex": record.sha256_hex,
        "create_us": to_micros(record.create_time),
        "update_us": to_micros(record.update_time),
        "expire_us": to_micros(record.expire_time),
        "state": record.state.value,
        "source": record.source.value,
        "error_json": json.dumps(record.error) if record.error else None,
        "facts_json": json.dumps(record.facts) if record.facts is not None else None,
        "blob_key": record.blob_key,
        "probe_due": record.facts is None,
        "lease_until": None,
    }


def _loads(text: str) -> Any:
    """orjson (a third of a row's decoding with the json module), which refuses what ``json.dumps`` may have
    written and it does not read (NaN, integers past 64 bits): those take the json module."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def file_record(row: Any) -> FileRecord:
    m = row if not isinstance(row, Row) else row._mapping
    return FileRecord(
        project=m["project"],
        id=m["id"],
        display_name=m["display_name"],
        mime_type=m["mime_type"],
        size_bytes=m["size_bytes"],
        sha256_hex=m["sha256_hex"],
        create_time=from_micros(m["create_us"]),
        update_time=from_micros(m["update_us"]),
        expire_time=from_micros(m["expire_us"]),
        state=FileState(m["state"]),
        source=FileSource(m["source"]),
        error=_loads(m["error_json"]) if m["error_json"] else None,
        facts=_loads(m["facts_json"]) if m["facts_json"] else None,
        blob_key=m["blob_key"],
    )


class FileRecords:
    """Rows -> FileRecords for the read paths, the same (frozen) record for a row seen unchanged before.

    Decoding a row (three datetimes, two enums, JSON) was a third of a ``files.get``'s time in the store.
    The key is the whole row, so a row that changed in any column (state, facts, expiry, a file deleted and
    its name taken again) is a new key and a new record: nothing here can be stale. At most ``size`` rows
    are kept (about 1 KiB each), the least recently used one forgotten for each new one: a listing walk over
    more files than that misses on every row, and emptying the whole memo at once was 2-3 ms on one page.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._memo: OrderedDict[tuple[Any, ...], FileRecord] = OrderedDict()

    def __call__(self, row: Any) -> FileRecord:
        key = tuple(row)
        memo = self._memo
        record = memo.get(key)
        if record is not None:
            memo.move_to_end(key)
            return record
        record = memo[key] = file_record(row)
        if len(memo) > self.size:
            memo.popitem(last=False)
        return record


class KnownFiles:
    """What ``files.get`` found on SQLite, by (project, id), trusted only while the database is unchanged.

    SQLite tells a connection whether any other connection committed since it last asked: ``PRAGMA
    data_version`` (one statement without a table, about a fifth of the lookup it replaces). Every write of
    this store is made by another connection (the writer thread's, another process's), so a version seen
    again means no row changed: the record found under it is still the row. Any other version forgets
    everything. Expiry is a matter of time, not of a write: each hit is checked against ``now`` as the
    query's ``expire_us > now`` would. Missing files are not kept. At most ``size`` entries; a full memo is
    emptied (a dict of records by name: microseconds).
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._version: object = None
        self._known: dict[tuple[str, str], tuple[FileRecord, int]] = {}

    def get(self, version: object, project: str, file_id: str, now_us: int) -> FileRecord | None:
        """The record if it is known under this version and not expired at ``now_us``, else None."""
        if version != self._version:
            self._known.clear()
            self._version = version
            return None
        hit = self._known.get((project, file_id))
        if hit is None or hit[1] <= now_us:
            return None
        return hit[0]

    def put(self, version: object, record: FileRecord) -> None:
        """A record read after ``version`` was asked for (so at least as new as that version)."""
        if version != self._version:
            return
        if len(self._known) >= self.size:
            self._known.clear()
        self._known[(record.project, record.id)] = (record, to_micros(record.expire_time))


def session_values(session: UploadSession) -> dict[str, Any]:
    return {
        "token_digest": session.token_digest,
        "project": session.project,
        "file_id": session.file_id,
        "mime_type": session.mime_type,
        "display_name": session.display_name,
        "declared_size": session.declared_size,
        "reserved_bytes": session.reserved_bytes,
        "received": session.received,
        "status": session.status.value,
        "create_us": to_micros(session.create_time),
        "expire_us": to_micros(session.expire_time),
        "blob_state": json.dumps(session.blob_state),
        "parts": parts_json(session.parts),
        "next_part": session.next_part,
        "hash_state": session.hash_state,
        "result_error": json.dumps(session.result_error) if session.result_error else None,
    }


def session_record(row: Any) -> UploadSession:
    m = row if not isinstance(row, Row) else row._mapping
    return UploadSession(
        token_digest=m["token_digest"],
        project=m["project"],
        file_id=m["file_id"],
        mime_type=m["mime_type"],
        display_name=m["display_name"],
        declared_size=m["declared_size"],
        reserved_bytes=m["reserved_bytes"],
        received=m["received"],
        status=SessionStatus(m["status"]),
        create_time=from_micros(m["create_us"]),
        expire_time=from_micros(m["expire_us"]),
        blob_state=_loads(m["blob_state"]),
        parts=[PartRef.from_json(p) for p in _loads(m["parts"])],
        next_part=m["next_part"],
        hash_state=bytes(m["hash_state"]) if m["hash_state"] is not None else None,
        result_error=_loads(m["result_error"]) if m["result_error"] else None,
    )
