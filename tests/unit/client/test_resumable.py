"""The client's upload loop against a scripted peer: retries, resuming, the SHA-256 check."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import httpx
import pytest

from gemfiles.client.api import Backoff, FilesApi
from gemfiles.client.config import Endpoint
from gemfiles.client.failures import FAILED, UNAVAILABLE
from gemfiles.client.resumable import Uploader, UploadResult
from gemfiles.client.sources import UploadJob, collect
from gemfiles.client.state import UploadStates
from tests.unit.client.peer import NoBars, Peer, lose_reply_after_keeping, reply

CHUNK = 1024 * 1024


@pytest.fixture
def payload(tmp_path: Path) -> tuple[UploadJob, bytes]:
    data = os.urandom(3 * CHUNK + 123)
    (tmp_path / "doc.pdf").write_bytes(data)
    jobs, _ = collect([str(tmp_path / "doc.pdf")])
    return jobs[0], data


def saved_states(directory: Path) -> int:
    return len(list(directory.glob("*.json")))


async def upload(
    peer: Peer, job: UploadJob, states: UploadStates, sleeps: list[float], attempts: int = 5
) -> UploadResult:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    api = FilesApi(
        Endpoint("http://gemfiles.test", "k", "v1"),
        backoff=Backoff(attempts=attempts, sleep=sleep),
        transport=peer.transport(),
    )
    async with api:
        return await Uploader(api, states, NoBars(), chunk_size=CHUNK).upload(job)


async def test_upload_sends_chunks_with_offsets_and_checks_the_digest(
    payload: tuple[UploadJob, bytes], tmp_path: Path
) -> None:
    job, data = payload
    peer = Peer()
    result = await upload(peer, job, UploadStates(tmp_path / "s"), [])
    assert result.error is None and result.sha256_verified is True
    assert bytes(peer.data) == data
    assert peer.requests == [
        ("upload", 0, CHUNK),
        ("upload", CHUNK, CHUNK),
        ("upload", 2 * CHUNK, CHUNK),
        ("upload, finalize", 3 * CHUNK, 123),
    ]
    assert not list((tmp_path / "s").glob("*.json"))


async def test_upload_retries_a_503_and_a_429_with_its_retry_after(
    payload: tuple[UploadJob, bytes], tmp_path: Path
) -> None:
    job, data = payload
    peer = Peer(faults=[None, reply(503), reply(429, **{"Retry-After": "7"})])
    sleeps: list[float] = []
    result = await upload(peer, job, UploadStates(tmp_path), sleeps)
    assert result.error is None and bytes(peer.data) == data
    assert len(sleeps) == 2 and sleeps[1] == 7.0
    assert [r[0] for r in peer.requests].count("query") == 2  # each retry asks where the session stands


async def test_upload_after_a_lost_reply_goes_on_from_the_offset_the_server_reports(
    payload: tuple[UploadJob, bytes], tmp_path: Path
) -> None:
    job, data = payload
    peer = Peer()
    peer.faults = [None, lose_reply_after_keeping(peer)]
    result = await upload(peer, job, UploadStates(tmp_path), [])
    assert result.error is None and result.sha256_verified is True
    assert bytes(peer.data) == data  # the kept chunk was not sent twice
    assert ("upload", 2 * CHUNK, CHUNK) in peer.requests


async def test_upload_resyncs_after_a_bad_offset_reply(
    payload: tuple[UploadJob, bytes], tmp_path: Path
) -> None:
    job, data = payload
    peer = Peer()

    def another_run_went_ahead(request: httpx.Request) -> None:
        peer.data[:] = data[: 3 * CHUNK]  # the session moved on without us: our offset is now stale

    peer.faults = [None, another_run_went_ahead]
    result = await upload(peer, job, UploadStates(tmp_path), [])
    assert result.error is None and result.sha256_verified is True
    assert bytes(peer.data) == data
    assert peer.requests[-2:] == [("query", None, 0), ("upload, finalize", 3 * CHUNK, 123)]


async def test_upload_gives_up_after_its_retries_and_keeps_the_state_to_resume(
    payload: tuple[UploadJob, bytes], tmp_path: Path
) -> None:
    job, data = payload
    states = UploadStates(tmp_path)
    peer = Peer(faults=[None, reply(503), reply(503), reply(503)])
    result = await upload(peer, job, states, [], attempts=2)
    assert result.error is not None and result.exit_code == UNAVAILABLE
    assert saved_states(tmp_path) == 1

    resumed = await upload(peer, job, states, [])
    assert resumed.error is None and resumed.resumed_from == CHUNK
    assert bytes(peer.data) == data
    assert saved_states(tmp_path) == 0


async def test_upload_reports_a_digest_that_is_not_the_files(
    payload: tuple[UploadJob, bytes], tmp_path: Path
) -> None:
    job, _ = payload
    result = await upload(Peer(wrong_digest=True), job, UploadStates(tmp_path), [])
    assert result.error is not None and result.exit_code == FAILED
    assert "SHA-256 mismatch" in str(result.error)


async def test_upload_refused_at_finalize_is_not_retried_and_leaves_no_state(
    payload: tuple[UploadJob, bytes], tmp_path: Path
) -> None:
    job, _ = payload
    peer = Peer(faults=[None, None, None, reply(400, status="final")])
    result = await upload(peer, job, UploadStates(tmp_path), [])
    assert result.error is not None and "injected 400" in str(result.error)
    assert saved_states(tmp_path) == 0


async def test_upload_url_requests_go_to_the_base_url_origin_without_the_key(
    payload: tuple[UploadJob, bytes], tmp_path: Path
) -> None:
    job, _ = payload
    seen: list[httpx.Request] = []
    peer = Peer()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return peer.handle(request)

    api = FilesApi(Endpoint("http://gemfiles.test", "k", "v1"), transport=httpx.MockTransport(handler))
    async with api:
        result = await Uploader(api, UploadStates(tmp_path), NoBars(), chunk_size=CHUNK).upload(job)
    assert result.error is None
    start, *chunks = seen
    assert start.headers["x-goog-api-key"] == "k"
    assert str(start.url) == "http://gemfiles.test/upload/v1/files"
    assert all(r.url.host == "gemfiles.test" and "x-goog-api-key" not in r.headers for r in chunks)


async def test_upload_of_an_empty_file_sends_one_empty_finalize(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    jobs, _ = collect([str(tmp_path / "empty.txt")])
    peer = Peer()
    result = await upload(peer, jobs[0], UploadStates(tmp_path / "s"), [])
    assert result.error is None and result.sha256_verified is True
    assert peer.requests == [("upload, finalize", 0, 0)]
    assert base64.b64decode(result.file["sha256Hash"]).decode() == hashlib.sha256(b"").hexdigest()  # type: ignore[index]


async def test_upload_does_not_retry_a_429_without_retry_after(
    payload: tuple[UploadJob, bytes], tmp_path: Path
) -> None:
    """A 429 that does not say when to come back is a quota refusal, not a pause."""
    job, _ = payload
    sleeps: list[float] = []
    peer = Peer(faults=[None, reply(429)])
    result = await upload(peer, job, UploadStates(tmp_path), sleeps)
    assert result.error is not None and result.exit_code == FAILED
    assert sleeps == []
