"""The probe's contract with the rest of the server: which files are processed, and facts on demand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gemfiles.domain.mime import AUDIO, VIDEO, file_kind, is_supported, needs_processing, supported_types
from gemfiles.media.isolated import IsolatedProber
from gemfiles.storage.localdisk import LocalBlobStore
from tests.unit.media import samples
from tests.unit.media.conftest import Store


def facts_of(blobs: LocalBlobStore) -> IsolatedProber:
    return IsolatedProber(f"file://{blobs.root}", 60)


def test_only_video_needs_processing() -> None:
    # Audio is ACTIVE at finalize, as Google returns it (tests/protocol/test_audio_at_once.py).
    for mime_type in supported_types():
        expected = mime_type in VIDEO
        assert needs_processing(mime_type) is expected, mime_type
    assert not any(needs_processing(mime_type) for mime_type in AUDIO)
    assert needs_processing("video/mp4; codecs=avc1") and not needs_processing("AUDIO/WAV")
    assert not needs_processing("text/plain") and not needs_processing("application/pdf")


def test_supported_types_lists_every_type_and_the_text_family() -> None:
    types = supported_types()

    assert types[-1] == "text/*"
    assert types[:-1] == sorted(types[:-1])
    assert {"video/mp4", "audio/wav", "image/png", "application/pdf", "application/json"} <= set(types)
    assert all(is_supported(t) for t in types[:-1])
    assert is_supported("text/x-python; charset=utf-8") and not is_supported("application/zip")


@pytest.mark.parametrize(
    ("mime_type", "kind"),
    [
        ("video/quicktime", "video"),
        ("audio/x-m4a", "audio"),
        ("image/heic", "image"),
        ("application/pdf", "pdf"),
        ("text/html; charset=utf-8", "text"),
        ("application/x-yaml", "text"),
        ("application/vnd.oasis.opendocument.text", "other"),
    ],
)
def test_file_kind_sorts_types_into_probes(mime_type: str, kind: str) -> None:
    assert file_kind(mime_type) == kind


async def test_facts_computes_them_for_a_file_not_probed_yet(store: Store, blobs: LocalBlobStore) -> None:
    record = await store(samples.audio("wav", "pcm_s16le", 0.5, 8000, 1), "audio/wav")
    assert record.facts is None

    facts = await facts_of(blobs).facts(record)

    assert facts["duration_seconds"] == pytest.approx(0.5)
    assert (facts["sample_rate"], facts["channels"]) == (8000, 1)
    assert record.facts is None  # pure: the caller's record is untouched, nothing is stored


async def test_facts_returns_stored_facts_without_reading_the_bytes(
    store: Store, blobs: LocalBlobStore
) -> None:
    record = await store(b"hello\n", "text/plain")
    await blobs.delete(record.blob_key)  # had it been read, this would fail
    stored = replace(record, facts={"line_count": 1, "first_line": "hello"})

    assert await facts_of(blobs).facts(stored) == {"line_count": 1, "first_line": "hello"}


async def test_facts_for_bytes_that_are_not_media_reports_the_probe_error(
    store: Store, blobs: LocalBlobStore
) -> None:
    record = await store(b"not a video", "video/mp4")

    facts = await facts_of(blobs).facts(record)

    assert set(facts) == {"probe_error"} and "not a readable video file" in facts["probe_error"]


async def test_facts_for_a_type_without_a_probe_is_empty(store: Store, blobs: LocalBlobStore) -> None:
    record = await store(b"PK\x03\x04", "application/vnd.ms-excel")

    assert await facts_of(blobs).facts(record) == {}
