"""Seeding a project from a directory through the UploadService, on the in-memory twin of the stores."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gemfiles.domain.clock import OffsetClock
from gemfiles.domain.mime import sniff
from gemfiles.domain.seeding import Seeder, mime_type_of, seed_files
from gemfiles.domain.uploads import Limits, UploadService
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
    return Seeder(meta, UploadService(meta, blobs, clock, limits), clock)


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


def test_mime_type_of_a_file_without_an_extension_comes_from_its_bytes(tmp_path: Path) -> None:
    pdf = tmp_path / "report"
    pdf.write_bytes(b"%PDF-1.7\n...")
    assert mime_type_of(pdf) == "application/pdf"
    binary = tmp_path / "blob"
    binary.write_bytes(bytes(range(256)))
    assert mime_type_of(binary) == "application/octet-stream"


def test_sniff_knows_text_and_common_signatures() -> None:
    assert sniff(b"plain words") == "text/plain"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "audio/wav"
    assert sniff(b"\x00\x00\x00\x18ftypmp42") == "video/mp4"
    assert sniff(b"\xff\xfe\x00\x01") is None
