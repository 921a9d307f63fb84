"""The local store makes an upload's directory with its first part, so a whole-file chunk never has one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gemfiles.domain.models import PartRef
from gemfiles.storage.localdisk import LocalBlobStore


class _Numbers:
    def __init__(self) -> None:
        self.next = 0

    async def allocate(self) -> int:
        self.next += 1
        return self.next


async def _blocks(data: bytes):  # type: ignore[no-untyped-def]
    yield data


async def test_begin_upload_makes_no_directory_until_the_first_part(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    state = await store.begin_upload("abc123")
    assert not (tmp_path / "uploads" / "abc123").exists()
    part = await store.put_part("abc123", state, _Numbers(), _blocks(b"hello"), 5)
    assert part == PartRef(number=0, size=5)
    assert (tmp_path / "uploads" / "abc123" / "0.part").read_bytes() == b"hello"


async def test_begin_upload_checks_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await LocalBlobStore(tmp_path).begin_upload("../escape")


async def test_abort_upload_without_a_directory_leaves_the_uploads_folder_empty(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    state = await store.begin_upload("abc123")
    key, size = await store.put_object("abc123x1", _blocks(b"whole"))
    await store.abort_upload("abc123", state, [])
    assert os.listdir(tmp_path / "uploads") == []
    assert size == 5 and b"".join([b async for b in store.open(key)]) == b"whole"


async def test_a_part_after_completion_is_refused_and_makes_no_directory(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    state = await store.begin_upload("abc123")
    part = await store.put_part("abc123", state, _Numbers(), _blocks(b"hello"), 5)
    await store.complete_upload("abc123", state, [part])
    with pytest.raises(FileNotFoundError):
        await store.put_part("abc123", state, _Numbers(), _blocks(b"late"), 4)
    assert os.listdir(tmp_path / "uploads") == []
