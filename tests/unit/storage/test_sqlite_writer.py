"""The SQLite writer thread: concurrent transactions share one COMMIT, fail alone, and a crash in the middle
of a group loses nothing that was answered."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from gemfiles.domain.models import FileRecord
from gemfiles.domain.ports import NameTaken
from gemfiles.storage.schema import files
from gemfiles.storage.sql import SqlMetadataStore
from gemfiles.storage.sql_rows import file_values
from tests.contract.test_metadata_store import GIB, NOW, file_for, new_project, new_session

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def store(tmp_path: Path) -> SqlMetadataStore:
    meta = SqlMetadataStore.from_url(f"sqlite:///{tmp_path}/g.db")
    await meta.migrate()
    yield meta  # type: ignore[misc]
    await meta.close()


async def test_concurrent_transactions_share_commits(store: SqlMetadataStore) -> None:
    project = new_project()
    records = [file_for(new_session(project), 10) for _ in range(64)]
    writer = store._sqlite_writer
    assert writer is not None
    before = (writer.commits, writer.transactions)

    await asyncio.gather(*(store.create_file(record, GIB, NOW) for record in records))

    commits, transactions = writer.commits - before[0], writer.transactions - before[1]
    assert transactions == 64 and commits < 64
    assert len(await store.list_files(project, NOW, 100, None)) == 64
    assert (await store.get_usage(project)).used_bytes == 640


async def test_a_failing_transaction_in_a_group_rolls_back_alone(store: SqlMetadataStore) -> None:
    project = new_project()
    taken = file_for(new_session(project), 10)
    await store.create_file(taken, GIB, NOW)
    good = [file_for(new_session(project), 5) for _ in range(20)]
    clashes = [replace(file_for(new_session(project), 7), id=taken.id) for _ in range(10)]

    results = await asyncio.gather(
        *(store.create_file(record, GIB, NOW) for record in [*good, *clashes]), return_exceptions=True
    )

    assert results[:20] == good
    assert all(isinstance(result, NameTaken) for result in results[20:])
    assert (await store.get_usage(project)).used_bytes == 10 + 20 * 5
    assert len(await store.list_files(project, NOW, 100, None)) == 21


_CLIENT = textwrap.dedent(
    """
    import asyncio, sys, uuid
    from datetime import UTC, datetime, timedelta
    from gemfiles.domain.models import FileRecord, FileSource, FileState
    from gemfiles.storage.sql import SqlMetadataStore

    async def main():
        store = SqlMetadataStore.from_url(sys.argv[1])
        await store.migrate()
        now = datetime.now(UTC)

        async def client(n):
            while True:
                size = 1 + (n * 7919 + len(uuid.uuid4().hex)) % 1000
                record = FileRecord(project="p", id=uuid.uuid4().hex[:16], display_name=None,
                    mime_type="text/plain", size_bytes=size, sha256_hex="0" * 64, create_time=now,
                    update_time=now, expire_time=now + timedelta(days=1), blob_key="aa/x",
                    state=FileState.ACTIVE, source=FileSource.UPLOADED, facts={})
                await store.create_file(record, 1 << 40, now)
                sys.stdout.write(f"{record.id} {size}\\n")
                sys.stdout.flush()

        await asyncio.gather(*(client(n) for n in range(16)))

    asyncio.run(main())
    """
)


def _write_until_killed(url: str, wanted: int) -> dict[str, int]:
    """Runs 16 concurrent writers in a child, kills it with SIGKILL after ``wanted`` acknowledgements,
    and returns every file it acknowledged (id -> size)."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CLIENT, url], stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ}
    )
    assert child.stdout is not None
    acknowledged: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while len(acknowledged) < wanted and time.monotonic() < deadline:
        line = child.stdout.readline().decode()
        if not line:
            break
        file_id, size = line.split()
        acknowledged[file_id] = int(size)
    child.send_signal(signal.SIGKILL)  # mid-group: the writer thread is committing continuously
    rest = child.stdout.read().decode()
    child.wait()
    for line in rest.splitlines():
        file_id, size = line.split()
        acknowledged[file_id] = int(size)
    return acknowledged


@pytest.mark.parametrize("round_", range(3))
async def test_a_crash_in_the_middle_of_a_group_loses_nothing_answered(tmp_path: Path, round_: int) -> None:
    url = f"sqlite:///{tmp_path}/crash-{uuid.uuid4().hex[:6]}.db"
    acknowledged = await asyncio.to_thread(_write_until_killed, url, 200 + 100 * round_)
    assert len(acknowledged) >= 200

    store = SqlMetadataStore.from_url(url)
    try:
        listed = await store.list_files("p", NOW.replace(year=2000), 100_000, None)
        present = {record.id: record.size_bytes for record in listed}
        assert set(acknowledged) <= set(present)
        assert all(present[file_id] == size for file_id, size in acknowledged.items())
        assert (await store.get_usage("p")).used_bytes == sum(present.values())
    finally:
        await store.close()


async def test_a_member_that_wrote_then_raised_leaves_none_of_its_writes(store: SqlMetadataStore) -> None:
    """A member's savepoint is rolled back to where it began: what it wrote before raising is gone, its
    neighbours in the group keep theirs."""
    project = new_project()
    writer = store._sqlite_writer
    assert writer is not None

    def write_then_raise(conn: Connection, record: FileRecord) -> None:
        conn.execute(insert(files).values(**file_values(record)))
        raise RuntimeError("after its write")

    kept = [file_for(new_session(project), 3) for _ in range(10)]
    lost = [file_for(new_session(project), 4) for _ in range(10)]
    before = writer.commits
    results = await asyncio.gather(
        *(store.create_file(record, GIB, NOW) for record in kept),
        *(store._transact(write_then_raise, record) for record in lost),
        return_exceptions=True,
    )

    assert results[:10] == kept
    assert all(isinstance(result, RuntimeError) for result in results[10:])
    assert writer.commits - before < 20  # they shared commits
    listed = {record.id for record in await store.list_files(project, NOW, 100, None)}
    assert listed == {record.id for record in kept}
    assert (await store.get_usage(project)).used_bytes == 30
