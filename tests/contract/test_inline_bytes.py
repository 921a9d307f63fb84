"""Small files' bytes kept with their rows (``inline``): stored in the transaction that records the file, or
not at all; read, listed for the scrub and deleted by key. Run on every backend."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gemfiles.domain.models import FileRecord, UploadSession
from gemfiles.domain.ports import MetadataStore, NameTaken, QuotaRefused, inline_key
from tests.contract.test_metadata_store import GIB, NOW, file_for, new_project, new_session, stored_file


def inline_file(size: int, project: str | None = None) -> tuple[UploadSession, FileRecord]:
    session = new_session(project or new_project(), size=size)
    return session, replace(file_for(session, size), blob_key=inline_key(session.upload_key))


async def test_create_file_keeps_the_bytes_with_the_row(meta: MetadataStore) -> None:
    _, record = inline_file(5)

    await meta.create_file(record, GIB, NOW, b"hello")

    assert await meta.read_inline(record.blob_key) == b"hello"
    assert await meta.get_file(record.project, record.id, NOW) == record
    listed = {blob.key: blob for blob in await meta.inline_blobs("", 1000)}
    assert listed[record.blob_key].size == 5 and listed[record.blob_key].kind == "object"


async def test_a_refused_create_file_keeps_no_bytes(meta: MetadataStore) -> None:
    project = new_project()
    await stored_file(meta, project, size=60)
    _, over = inline_file(50, project)
    with pytest.raises(QuotaRefused):
        await meta.create_file(over, 100, NOW, b"x" * 50)

    existing = await stored_file(meta, project, size=1)
    _, clash = inline_file(3, project)
    clash = replace(clash, id=existing.id)
    with pytest.raises(NameTaken):
        await meta.create_file(clash, GIB, NOW, b"abc")

    assert await meta.read_inline(over.blob_key) is None
    assert await meta.read_inline(clash.blob_key) is None


async def test_finish_whole_keeps_the_bytes_only_when_it_makes_the_file(meta: MetadataStore) -> None:
    session, record = inline_file(4)
    await meta.create_session(session, GIB, NOW)
    assert await meta.finish_whole(session.token_digest, record, GIB, NOW, b"data") == record
    assert await meta.read_inline(record.blob_key) == b"data"

    # The same session again (a lost race): nothing changes, no second copy.
    again = replace(record, blob_key=record.blob_key + "ab")
    assert await meta.finish_whole(session.token_digest, again, GIB, NOW, b"data") is None
    assert await meta.read_inline(again.blob_key) is None

    # Onto a live file of the same name: the session fails and no bytes are kept.
    late = new_session(record.project, size=2, file_id="late-name")
    await meta.create_session(late, GIB, NOW)
    await meta.create_file(
        replace(file_for(new_session(record.project, size=1), 1), id="late-name"), GIB, NOW
    )
    clash = replace(file_for(late, 2), blob_key=inline_key(late.upload_key))
    with pytest.raises(NameTaken):
        await meta.finish_whole(late.token_digest, clash, GIB, NOW, b"no")
    assert await meta.read_inline(clash.blob_key) is None


async def test_deleted_bytes_are_gone_and_deleting_twice_is_fine(meta: MetadataStore) -> None:
    _, record = inline_file(3)
    await meta.create_file(record, GIB, NOW, b"abc")

    await meta.delete_inline(record.blob_key)
    await meta.delete_inline(record.blob_key)

    assert await meta.read_inline(record.blob_key) is None
    assert record.blob_key not in {blob.key for blob in await meta.inline_blobs("", 1000)}


async def test_inline_blobs_pages_in_key_order(meta: MetadataStore) -> None:
    records = [inline_file(1)[1] for _ in range(5)]
    for record in records:
        await meta.create_file(record, GIB, NOW, b"z")
    ours = sorted(record.blob_key for record in records)

    seen: list[str] = []
    after = ""
    while True:
        page = await meta.inline_blobs(after, 2)
        seen += [blob.key for blob in page]
        if len(page) < 2:
            break
        after = page[-1].key

    assert [key for key in seen if key in ours] == ours
    assert seen == sorted(seen)
