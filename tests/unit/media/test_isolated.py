"""Probes in child processes: a crash, a hang, an error or stray output in the child never reaches the server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gemfiles.domain.models import FileState
from gemfiles.domain.ports import Prober
from gemfiles.media.isolated import IsolatedProber, ProbeFailed, run_isolated
from gemfiles.storage.localdisk import LocalBlobStore
from tests.unit.media import samples
from tests.unit.media.children import (
    add,
    balloon,
    chatty,
    exit_quietly,
    fail_reading,
    hang,
    raise_unpicklable,
    raise_unrebuildable,
    segfault,
)
from tests.unit.media.conftest import Store


def test_runs_the_function_in_another_process_and_returns_its_result() -> None:
    total, pid = run_isolated(add, 2, 3, timeout=30)
    assert total == 5 and pid != os.getpid()


def test_what_the_child_prints_does_not_spoil_its_answer() -> None:
    assert run_isolated(chatty, "answer", timeout=30) == "answer"


def test_a_child_killed_by_a_signal_is_a_failed_probe() -> None:
    with pytest.raises(ProbeFailed, match="killed by SIGSEGV"):
        run_isolated(segfault, timeout=30)


def test_a_child_that_exits_without_answering_is_a_failed_probe() -> None:
    with pytest.raises(ProbeFailed, match="exited with code 0 without an answer"):
        run_isolated(exit_quietly, timeout=30)


def test_a_child_that_hangs_is_killed_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(ProbeFailed, match="no answer within 2 seconds"):
        run_isolated(hang, str(pid_file), timeout=2)
    assert time.monotonic() - started < 10
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone, and reaped


def test_the_childs_exceptions_are_raised_again_in_the_parent() -> None:
    with pytest.raises(FileNotFoundError, match="/nowhere"):
        run_isolated(fail_reading, "/nowhere", timeout=30)
    with pytest.raises(RuntimeError, match="Unpicklable: cannot travel"):
        run_isolated(raise_unpicklable, timeout=30)
    with pytest.raises(ProbeFailed, match="an answer that could not be read"):
        run_isolated(raise_unrebuildable, timeout=30)


# The server's probes ----------------------------------------------------------------------------------


def prober(blobs: LocalBlobStore, timeout: float = 60) -> IsolatedProber:
    return IsolatedProber(f"file://{blobs.root}", timeout)


async def test_probe_of_a_stored_file_reads_it_in_the_child(store: Store, blobs: LocalBlobStore) -> None:
    record = await store(samples.audio("wav", "pcm_s16le", 0.5, 8000, 1), "audio/wav", parts=3)

    state, facts, error = await prober(blobs).probe(record)

    assert (state, error) == (FileState.ACTIVE, None)
    assert facts is not None and facts["duration_seconds"] == pytest.approx(0.5)


async def test_a_probe_that_overruns_its_time_fails_a_video(store: Store, blobs: LocalBlobStore) -> None:
    record = await store(samples.video("mp4", "mpeg4", "aac", seconds=1.0, fps=25), "video/mp4")

    state, facts, error = await prober(blobs, timeout=0.01).probe(record)

    assert state == FileState.FAILED
    assert facts == {"probe_error": "the probe gave no answer within 0.01 seconds"}
    assert error is not None and error["code"] == 3
    assert "could not be processed: the probe gave no answer" in error["message"]


async def test_a_probe_that_overruns_its_time_leaves_an_image_active(
    store: Store, blobs: LocalBlobStore
) -> None:
    record = await store(samples.image("PNG", 4, 4), "image/png")

    state, facts, error = await prober(blobs, timeout=0.01).probe(record)

    assert (state, error) == (FileState.ACTIVE, None)
    assert facts is not None and "no answer" in facts["probe_error"]


async def test_a_missing_blob_is_an_error_of_the_store_not_of_the_bytes(
    store: Store, blobs: LocalBlobStore
) -> None:
    record = await store(b"hello\n", "text/plain")
    await blobs.delete(record.blob_key)

    with pytest.raises(OSError):
        await prober(blobs).probe(record)


async def test_a_type_without_a_probe_starts_no_child(store: Store, blobs: LocalBlobStore) -> None:
    record = await store(b"PK\x03\x04", "application/vnd.ms-excel")
    assert await prober(blobs, timeout=0.000001).probe(record) == (FileState.ACTIVE, {}, None)
    assert await prober(blobs, timeout=0.000001).inline("application/zip", b"PK") == {}


def test_a_child_that_outgrows_its_memory_is_a_failed_probe() -> None:
    assert run_isolated(balloon, 16, timeout=30, memory_mib=512) == 16 * 1024 * 1024
    with pytest.raises(ProbeFailed, match="ran out of its 512 MiB of memory"):
        run_isolated(balloon, 1024, timeout=30, memory_mib=512)


def test_isolated_prober_implements_the_domain_port(blobs: LocalBlobStore) -> None:
    assert isinstance(prober(blobs), Prober)
