"""Seeding a project from a directory through the UploadService, on the in-memory twin of the stores."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gemfiles.domain.clock import OffsetClock
from gemfiles.domain.seeding import Seeder, mime_type_of, seed_files
from gemfiles.domain.uploads import Limits, UploadService
from gemfiles.media.sniff import MagicSniffer
from gemfiles.storage.memory import MemoryBlobStore, MemoryMetadataStore, forget

PROJECT = "seeded"


@pytest.fixture
def stores() -> Iterator[tuple[MemoryMetadataStore, MemoryBlobStore]]:
    name = f"seed-{uuid.uuid4().hex[:12]}"
    yield MemoryMetadataStore(name), MemoryBlobStore(name)
    forget(name)


def seeder_on(meta: MemoryMetadataStore, blobs: MemoryBlobStore, quota: int = 1_000_000) -> Seeder:
    clock = OffsetClock()
    limits = Limits(
        max_file_bytes=100_000,
        project_quota_bytes=quota,
        file_ttl=timedelta(hours=48),
        session_ttl=timedelta(days=7),
    )
    return Seeder(meta, UploadService(meta, blobs, clock, limits, sniffer=MagicSniffer()), clock)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    root = tmp_path / "seed"
    (root / "docs").mkdir(parents=True)
    (root / "notes.txt").write_text("first notes\n")
    (root / "docs" / "data.json").write_text('{"a": 1}')
    (root / "picture").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    (root / ".hidden").write_text("never seeded")
    return root


async def held(meta: MemoryMetadataStore) -> dict[str, tuple[str, str]]:
    now = OffsetClock().now()
    return {
        r.display_name or "": (r.mime_type, r.sha256_hex)
        for r in await meta.list_files(PROJECT, now, 100, None)
    }


async def test_seed_uploads_every_file_with_its_name_type_and_digest(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore], directory: Path
) -> None:
    meta, blobs = stores
    report = await seeder_on(meta, blobs).seed(PROJECT, directory)
    assert sorted(report.added) == ["docs/data.json", "notes.txt", "picture"]
    files = await held(meta)
    assert files["notes.txt"] == ("text/plain", hashlib.sha256(b"first notes\n").hexdigest())
    assert files["docs/data.json"][0] == "application/json"
    assert files["picture"][0] == "image/png"  # no extension: the bytes say PNG
    assert ".hidden" not in files


async def test_seed_twice_uploads_nothing_the_second_time(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore], directory: Path
) -> None:
    meta, blobs = stores
    await seeder_on(meta, blobs).seed(PROJECT, directory)
    before = await held(meta)
    again = await seeder_on(meta, blobs).seed(PROJECT, directory)
    assert (again.added, again.replaced) == ([], [])
    assert sorted(again.skipped) == ["docs/data.json", "notes.txt", "picture"]
    assert await held(meta) == before
    assert (await meta.get_usage(PROJECT)).used_bytes == sum(
        p.stat().st_size for _, p in seed_files(directory)
    )


async def test_seed_replaces_a_changed_file_and_keeps_the_others(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore], directory: Path
) -> None:
    meta, blobs = stores
    await seeder_on(meta, blobs).seed(PROJECT, directory)
    (directory / "notes.txt").write_text("second notes, longer\n")
    report = await seeder_on(meta, blobs).seed(PROJECT, directory)
    assert (report.added, report.replaced) == ([], ["notes.txt"])
    files = await held(meta)
    assert len(files) == 3
    assert files["notes.txt"][1] == hashlib.sha256(b"second notes, longer\n").hexdigest()


async def test_seed_past_the_quota_reports_the_refused_files(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore], directory: Path
) -> None:
    meta, blobs = stores
    report = await seeder_on(meta, blobs, quota=20).seed(PROJECT, directory)
    assert report.failed and all("quota" in reason for reason in report.failed.values())


async def test_seeded_file_without_an_extension_is_typed_by_its_bytes(
    stores: tuple[MemoryMetadataStore, MemoryBlobStore], tmp_path: Path
) -> None:
    meta, blobs = stores
    (tmp_path / "report").write_bytes(b"%PDF-1.7\n" + b"x" * 64)
    (tmp_path / "blob").write_bytes(bytes(range(256)))
    assert mime_type_of(tmp_path / "report") == "application/octet-stream"  # untyped: finalize asks the bytes
    await seeder_on(meta, blobs).seed(PROJECT, tmp_path)
    files = await held(meta)
    assert files["report"][0] == "application/pdf"
    assert files["blob"][0] == "application/octet-stream"
