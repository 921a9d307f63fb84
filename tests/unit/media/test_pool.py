"""Reusable probe children: one child answers many jobs, and is retired after a failure or N jobs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gemfiles.domain.models import FileState
from gemfiles.media.isolated import IsolatedProber
from gemfiles.media.pool import ChildPool, ProbeFailed
from gemfiles.storage.localdisk import LocalBlobStore
from tests.unit.media import samples
from tests.unit.media.children import add, balloon, fail_reading, hang, segfault
from tests.unit.media.conftest import Store


@pytest.fixture
def pool() -> ChildPool:
    pool = ChildPool(1, 512, max_jobs=3)
    yield pool  # type: ignore[misc]
    pool.close()


def test_reuses_one_child_for_consecutive_jobs(pool: ChildPool) -> None:
    pids = {pool.run(add, i, 1, timeout=30)[1] for i in range(3)}

    assert len(pids) == 1 and os.getpid() not in pids
    assert pool.started == 1


def test_retires_a_child_after_max_jobs(pool: ChildPool) -> None:
    pids = [pool.run(add, i, 1, timeout=30)[1] for i in range(4)]

    assert pids[0] == pids[1] == pids[2] != pids[3]
    assert (pool.started, pool.retired) == (2, 1)
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)  # retired: gone, and reaped


def test_replaces_a_child_that_crashed(pool: ChildPool) -> None:
    first = pool.run(add, 1, 1, timeout=30)[1]
    with pytest.raises(ProbeFailed, match="killed by SIGSEGV"):
        pool.run(segfault, timeout=30)

    after = pool.run(add, 1, 1, timeout=30)[1]

    assert after != first and pool.started == 2


def test_kills_a_child_that_overruns_its_time_and_starts_a_fresh_one(pool: ChildPool, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(ProbeFailed, match="no answer within 2 seconds"):
        pool.run(hang, str(pid_file), timeout=2)
    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)

    assert pool.run(add, 2, 3, timeout=30)[0] == 5


def test_retires_a_child_whose_job_raised(pool: ChildPool) -> None:
    first = pool.run(add, 1, 1, timeout=30)[1]
    with pytest.raises(FileNotFoundError):
        pool.run(fail_reading, "/nowhere", timeout=30)

    assert pool.run(add, 1, 1, timeout=30)[1] != first


def test_keeps_the_memory_limit_in_a_reused_child(pool: ChildPool) -> None:
    assert pool.run(balloon, 16, timeout=30) == 16 * 1024 * 1024
    with pytest.raises(ProbeFailed, match="ran out of its 512 MiB of memory"):
        pool.run(balloon, 1024, timeout=30)
    assert pool.run(balloon, 16, timeout=30) == 16 * 1024 * 1024


async def test_text_facts_are_read_without_a_child(store: Store, blobs: LocalBlobStore) -> None:
    record = await store(b"\n  first line\nsecond\n", "text/plain")
    prober = IsolatedProber(f"file://{blobs.root}", 60, blobs=blobs)

    state, facts, error = await prober.probe(record)

    assert (state, error) == (FileState.ACTIVE, None)
    assert facts["line_count"] == 3 and facts["first_line"] == "first line"
    assert prober.pool.started == 0
    prober.close()


async def test_probes_of_images_share_one_child(store: Store, blobs: LocalBlobStore) -> None:
    prober = IsolatedProber(f"file://{blobs.root}", 60, blobs=blobs)
    for size in (4, 5, 6):
        record = await store(samples.image("PNG", size, size), "image/png")
        _, facts, _ = await prober.probe(record)
        assert facts["width"] == size
    assert prober.pool.started == 1
    prober.close()
