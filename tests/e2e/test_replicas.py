"""Two `gemfiles serve` replicas on one PostgreSQL and one S3 bucket (SeaweedFS), with no affinity.

Requests of one upload alternate between the replicas, one replica is killed (SIGKILL) in the middle of a
chunk, uploads race a small quota from both sides, and both run the expiry sweep at once.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import io
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from google import genai
from google.genai import errors

from tests.e2e.services import Postgres, SeaweedS3, shared_postgres, shared_seaweedfs
from tests.support import ROOT, LiveServer

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
QUOTA = 50_000_000
PREFIX = "gemfiles"


@dataclass
class Cluster:
    replicas: list[LiveServer]
    postgres: Postgres
    database_url: str
    seaweed: SeaweedS3
    bucket: str

    def __getitem__(self, index: int) -> LiveServer:
        return self.replicas[index % len(self.replicas)]

    def count_files(self) -> int:
        import asyncpg

        async def count() -> int:
            conn = await asyncpg.connect(self.database_url)
            try:
                return int(await conn.fetchval("SELECT count(*) FROM files"))
            finally:
                await conn.close()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, count()).result()


def _start_all(replicas: list[LiveServer]) -> None:
    with concurrent.futures.ThreadPoolExecutor(len(replicas)) as pool:
        for future in [pool.submit(replica.start, 60.0) for replica in replicas]:
            future.result()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    postgres, seaweed = shared_postgres(), shared_seaweedfs()
    # An empty database: both replicas migrate it at start-up, at the same moment.
    name = f"r_{uuid.uuid4().hex[:12]}"
    postgres.admin(f'CREATE DATABASE "{name}"')
    bucket = seaweed.bucket()
    env = {
        "GEMFILES_DATABASE_URL": postgres.url(name),
        "GEMFILES_BLOB_URL": f"s3://{bucket}/{PREFIX}",
        "GEMFILES_EMULATOR_CONTROLS": "true",
        "GEMFILES_PROJECT_QUOTA_BYTES": str(QUOTA),
        "GEMFILES_SWEEP_INTERVAL": "1h",  # only the explicit sweeps below
        **seaweed.env,
    }
    root = tmp_path_factory.mktemp("replicas")
    replicas = [LiveServer(root / f"replica{i}", env) for i in range(2)]
    try:
        _start_all(replicas)
        yield Cluster(replicas, postgres, postgres.url(name), seaweed, bucket)
    finally:
        for replica in replicas:
            replica.stop()


# Raw upload protocol ---------------------------------------------------------------------------------------
def start_upload(
    server: LiveServer, key: str, size: int, mime_type: str = "application/pdf"
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/upload/v1beta/files",
        headers={
            "x-goog-api-key": key,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": mime_type,
            "Content-Type": "application/json",
        },
        json={"file": {"display_name": "replicated"}},
        timeout=30,
    )


def upload_url(server: LiveServer, key: str, size: int) -> str:
    reply = start_upload(server, key, size)
    assert reply.status_code == 200, reply.text
    return reply.headers["x-goog-upload-url"]


def on(server: LiveServer, url: str) -> str:
    """The same upload URL, sent to another replica (as a load balancer without affinity would)."""
    path = url.split("/", 3)[3]
    return f"{server.url}/{path}"


def send_chunk(
    server: LiveServer, url: str, data: bytes | Iterator[bytes], offset: int, *, final: bool, length: int
) -> httpx.Response:
    return httpx.post(
        on(server, url),
        content=data,
        headers={
            "X-Goog-Upload-Command": "upload, finalize" if final else "upload",
            "X-Goog-Upload-Offset": str(offset),
            "Content-Length": str(length),
        },
        timeout=120,
    )


def query(server: LiveServer, url: str) -> httpx.Response:
    return httpx.post(on(server, url), headers={"X-Goog-Upload-Command": "query"}, timeout=30)


def google_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()


def upload_alternating(cluster: Cluster, key: str, data: bytes, chunk: int) -> dict:
    url = upload_url(cluster[0], key, len(data))
    offset, turn = 0, 1
    while True:
        piece = data[offset : offset + chunk]
        final = offset + len(piece) >= len(data)
        reply = send_chunk(cluster[turn], url, piece, offset, final=final, length=len(piece))
        assert reply.status_code == 200, reply.text
        offset += len(piece)
        turn += 1
        if final:
            assert reply.headers["x-goog-upload-status"] == "final"
            file: dict = reply.json()["file"]
            return file
        assert reply.headers["x-goog-upload-status"] == "active"


def get_file(server: LiveServer, key: str, name: str) -> httpx.Response:
    return httpx.get(f"{server.url}/v1beta/{name}", headers={"x-goog-api-key": key}, timeout=30)


# Tests -----------------------------------------------------------------------------------------------------
def test_both_replicas_started_together_are_ready(cluster: Cluster) -> None:
    for replica in cluster.replicas:
        assert httpx.get(f"{replica.url}/_internal/healthz").status_code == 200
        assert httpx.get(f"{replica.url}/_internal/livez").status_code == 200


@pytest.mark.parametrize("chunk", [8 * MIB, 1 * MIB], ids=["8MiB-chunks", "1MiB-chunks"])
def test_upload_with_chunks_alternating_between_replicas_finalizes_intact(
    cluster: Cluster, chunk: int
) -> None:
    key = f"replicas-{uuid.uuid4().hex}"
    data = os.urandom(20_000_000)
    file = upload_alternating(cluster, key, data, chunk)

    assert file["sizeBytes"] == str(len(data))
    assert file["sha256Hash"] == google_sha256(data)
    for replica in cluster.replicas:
        seen = get_file(replica, key, file["name"])
        assert seen.status_code == 200 and seen.json()["sha256Hash"] == google_sha256(data)
    # Only the finished object is left: no chunk objects, no unfinished multipart upload.
    leftovers = cluster.seaweed.keys(cluster.bucket, f"{PREFIX}/uploads/")
    assert leftovers == []


def test_replica_killed_mid_chunk_leaves_the_upload_to_the_other(cluster: Cluster) -> None:
    key = f"replicas-{uuid.uuid4().hex}"
    data = os.urandom(20_000_000)
    victim, survivor = cluster[0], cluster[1]
    url = upload_url(victim, key, len(data))
    first = 8 * MIB
    assert send_chunk(victim, url, data[:first], 0, final=False, length=first).status_code == 200

    second = data[first : 2 * first]

    def cut_off() -> Iterator[bytes]:
        yield second[: 3 * MIB]
        time.sleep(0.3)  # the replica is now writing this chunk to S3
        victim.kill()
        yield second[3 * MIB :]

    with pytest.raises(httpx.TransportError):
        send_chunk(victim, url, cut_off(), first, final=False, length=len(second))

    status = query(survivor, url)
    assert status.headers["x-goog-upload-status"] == "active"
    offset = int(status.headers["x-goog-upload-size-received"])
    assert offset == first
    reply = send_chunk(survivor, url, data[offset:], offset, final=True, length=len(data) - offset)
    assert reply.status_code == 200, reply.text
    file = reply.json()["file"]
    assert file["sizeBytes"] == str(len(data))
    assert file["sha256Hash"] == google_sha256(data)

    victim.start(60.0)
    assert get_file(victim, key, file["name"]).json()["sha256Hash"] == google_sha256(data)


def test_uploads_racing_a_small_quota_across_replicas_fill_it_exactly(cluster: Cluster) -> None:
    key = f"replicas-{uuid.uuid4().hex}"
    size = 7_000_000
    payloads = [os.urandom(size) for _ in range(20)]
    gate = threading.Barrier(len(payloads))

    def attempt(index: int) -> bool:
        gate.wait()
        reply = start_upload(cluster[index], key, size)
        if reply.status_code == 429:
            assert reply.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
            return False
        assert reply.status_code == 200, reply.text
        url = reply.headers["x-goog-upload-url"]
        done = send_chunk(cluster[index + 1], url, payloads[index], 0, final=True, length=size)
        assert done.status_code == 200, done.text
        return True

    with concurrent.futures.ThreadPoolExecutor(len(payloads)) as pool:
        results = list(pool.map(attempt, range(len(payloads))))

    assert sum(results) == QUOTA // size
    usage = httpx.get(f"{cluster[0].url}/_internal/usage", headers={"x-goog-api-key": key}).json()
    assert usage == {"usedBytes": str(QUOTA // size * size), "reservedBytes": "0"}


def test_python_sdk_flow_with_calls_alternating_between_replicas(cluster: Cluster) -> None:
    key = f"replicas-{uuid.uuid4().hex}"
    first, second = (genai.Client(api_key=key, http_options={"base_url": r.url}) for r in cluster.replicas)
    data = os.urandom(10_000_000)  # two of the SDK's 8 MiB chunks
    uploaded = second.files.upload(file=io.BytesIO(data), config={"mime_type": "application/pdf"})
    assert uploaded.size_bytes == len(data)
    assert base64.b64decode(uploaded.sha256_hash or "").decode() == hashlib.sha256(data).hexdigest()
    assert uploaded.name is not None

    assert first.files.get(name=uploaded.name).size_bytes == len(data)
    assert uploaded.name in {f.name for f in second.files.list()}
    first.files.delete(name=uploaded.name)
    for client in (first, second):
        with pytest.raises(errors.ClientError) as caught:
            client.files.get(name=uploaded.name)
        assert caught.value.code == 403


def run_migrate(database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMFILES_")}
    env.update({"GEMFILES_DATABASE_URL": database_url, "GEMFILES_DATA_DIR": str(data_dir)})
    return subprocess.run(
        [sys.executable, "-m", "gemfiles", "migrate"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def schema_version(database_url: str) -> str:
    import asyncpg

    async def fetch() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            return str(await conn.fetchval("SELECT version_num FROM alembic_version"))
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, fetch()).result()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from gemfiles.storage.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def test_gemfiles_migrate_brings_an_empty_postgres_database_to_head_twice_over(tmp_path: Path) -> None:
    postgres = shared_postgres()
    name = f"m_{uuid.uuid4().hex[:12]}"
    postgres.admin(f'CREATE DATABASE "{name}"')
    for _ in range(2):
        result = run_migrate(postgres.url(name), tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "schema up to date" in result.stdout
    assert schema_version(postgres.url(name)) == head_revision()


def test_gemfiles_migrate_while_replicas_serve_interrupts_nothing(cluster: Cluster, tmp_path: Path) -> None:
    key = f"replicas-{uuid.uuid4().hex}"
    file = upload_alternating(cluster, key, os.urandom(1000), 1000)
    statuses: list[int] = []
    done = threading.Event()

    def keep_reading() -> None:
        turn = 0
        while not done.is_set():
            statuses.append(get_file(cluster[turn], key, file["name"]).status_code)
            turn += 1

    reader = threading.Thread(target=keep_reading)
    reader.start()
    try:
        result = run_migrate(cluster.database_url, tmp_path)
    finally:
        done.set()
        reader.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert statuses and set(statuses) == {200}


def test_expiry_sweep_run_by_both_replicas_deletes_each_file_once(cluster: Cluster) -> None:
    key = f"replicas-{uuid.uuid4().hex}"
    for index in range(6):
        upload_alternating(cluster, key, os.urandom(100_000 + index), 64 * 1024)
    stored = cluster.count_files()
    assert stored >= 6

    for replica in cluster.replicas:
        moved = httpx.post(f"{replica.url}/_internal/clock", json={"advance": "49h"})
        assert moved.status_code == 200, moved.text

    def sweep(replica: LiveServer) -> dict:
        reply = httpx.post(f"{replica.url}/_internal/sweep", timeout=120)
        assert reply.status_code == 200, reply.text
        report: dict = reply.json()
        return report

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(sweep, cluster.replicas))

    assert sum(r["files"] for r in reports) == stored
    assert cluster.count_files() == 0
    assert cluster.seaweed.keys(cluster.bucket, f"{PREFIX}/") == []
    assert cluster.seaweed.pending_uploads(cluster.bucket, f"{PREFIX}/") == []


def test_large_chunk_resent_after_a_lost_reply_is_recognised_by_its_etag(cluster: Cluster) -> None:
    """S3 cannot read back an unfinished multipart part: the re-sent chunk is matched by its MD5 ETag."""
    a, b = cluster.replicas
    first, second = os.urandom(6 * 1024 * 1024), os.urandom(1024)
    url = upload_url(a, "etag-retry", len(first) + len(second))
    assert send_chunk(a, url, first, 0, final=False, length=len(first)).status_code == 200
    again = send_chunk(b, url, first, 0, final=False, length=len(first))  # the reply was "lost"
    assert again.status_code == 200, again.text
    assert again.headers["x-goog-upload-status"] == "active"
    assert again.headers["x-goog-upload-size-received"] == str(len(first))
    forged = send_chunk(b, url, os.urandom(len(first)), 0, final=False, length=len(first))
    assert forged.status_code == 400 and forged.headers["x-goog-upload-status"] == "active"
    done = send_chunk(a, url, second, len(first), final=True, length=len(second))
    assert done.status_code == 200, done.text
    assert done.json()["file"]["sha256Hash"] == google_sha256(first + second)
