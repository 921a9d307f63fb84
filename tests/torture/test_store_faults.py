"""The stores failing under a live server: PostgreSQL restarted during traffic, S3 (SeaweedFS) cutting its
connections or stalling behind a fault-injecting proxy (tests/torture/faultproxy.py)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import LiveServer
from tests.torture.faultproxy import FaultProxy
from tests.torture.harness import TORTURE_ENV
from tests.torture.ledger import sha256_hash

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MIB = 1024 * 1024


def _raw(http: httpx.Client, key: str, data: bytes) -> httpx.Response:
    return http.post(
        "/upload/v1beta/files",
        content=data,
        headers={"x-goog-api-key": key, "X-Goog-Upload-Protocol": "raw", "Content-Type": "text/plain"},
    )


# PostgreSQL -------------------------------------------------------------------------------------------
class RestartablePostgres:
    """A cluster of its own (tests/e2e/services.py's), stopped and started again on the same data."""

    def __init__(self) -> None:
        from tests.e2e.services import start_postgres

        self.server = start_postgres()
        assert self.server.proc is not None
        # The shared test clusters run with fsync and synchronous_commit off (speed; durability is not
        # their concern). Here it is: an immediate shutdown would lose commits acknowledged before it.
        durable = {"fsync=off": "fsync=on", "synchronous_commit=off": "synchronous_commit=on"}
        durable["full_page_writes=off"] = "full_page_writes=on"
        self.args = [durable.get(str(arg), str(arg)) for arg in self.server.proc.args]  # type: ignore[union-attr]
        self.restart(signal.SIGINT)

    def restart(self, sig: int) -> float:
        """SIGINT: fast shutdown; SIGQUIT: immediate (no checkpoint, crash recovery at start)."""
        from bench.services import _pg_bin, _pg_user

        proc = self.server.proc
        assert proc is not None
        began = time.monotonic()
        proc.send_signal(sig)
        proc.wait(30)
        log = open(self.server.log_path, "ab")
        self.server.proc = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, user=_pg_user(), start_new_session=True
        )
        ready = [
            str(_pg_bin() / "pg_isready"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.server.port),
            "-U",
            "postgres",
        ]
        while subprocess.run(ready, capture_output=True).returncode != 0:
            assert time.monotonic() - began < 60, "postgres did not come back"
            time.sleep(0.1)
        return time.monotonic() - began

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def postgres() -> Iterator[RestartablePostgres]:
    cluster = RestartablePostgres()
    yield cluster
    cluster.stop()


def test_postgresql_restarted_during_traffic_loses_nothing_and_service_resumes(
    tmp_path: Path, postgres: RestartablePostgres, reliability_report: dict[str, Any]
) -> None:
    server = LiveServer(
        tmp_path / "data", {**TORTURE_ENV, "GEMFILES_DATABASE_URL": postgres.server.database()}
    )
    server.start()
    key = "pg-restarts"
    acked: dict[str, bytes] = {}
    statuses: dict[str, int] = {}
    stop = threading.Event()
    lock = threading.Lock()

    def traffic() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                data = os.urandom(int.from_bytes(os.urandom(2)) * 4)
                try:
                    reply = _raw(http, key, data)
                except httpx.TransportError:
                    statuses["transport error"] = statuses.get("transport error", 0) + 1
                    continue
                with lock:
                    statuses[str(reply.status_code)] = statuses.get(str(reply.status_code), 0) + 1
                    if reply.status_code == 200:
                        acked[reply.json()["file"]["name"]] = data
                http.get("/v1beta/files", headers={"x-goog-api-key": key})

    threads = [threading.Thread(target=traffic, daemon=True) for _ in range(3)]
    restarts: list[dict[str, Any]] = []
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        for i in range(6):
            sig = signal.SIGQUIT if i % 2 else signal.SIGINT
            down = postgres.restart(sig)
            # Service resumes without restarting gemfiles: an upload succeeds within 15 s.
            began = time.monotonic()
            with httpx.Client(base_url=server.url, timeout=30) as http:
                while _raw(http, "pg-probe", b"probe").status_code != 200:
                    assert time.monotonic() - began < 15, "uploads still fail 15 s after PostgreSQL came back"
                    time.sleep(0.2)
            restarts.append(
                {
                    "signal": signal.Signals(sig).name,
                    "down_s": round(down, 2),
                    "resumed_after_s": round(time.monotonic() - began, 2),
                }
            )
            time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            listed = {}
            token = ""
            while True:
                page = http.get(
                    "/v1beta/files",
                    params={"pageSize": "100", **({"pageToken": token} if token else {})},
                    headers={"x-goog-api-key": key},
                ).json()
                listed.update({f["name"]: f for f in page.get("files", [])})
                token = page.get("nextPageToken", "")
                if not token:
                    break
            missing = sorted(set(acked) - set(listed))
            assert not missing, f"acknowledged uploads lost across PostgreSQL restarts: {missing}"
            for name, data in acked.items():
                assert listed[name]["sha256Hash"] == sha256_hash(hashlib.sha256(data).hexdigest())
                got = http.get(
                    f"/v1beta/{name}:download", params={"alt": "media"}, headers={"x-goog-api-key": key}
                )
                assert got.content == data
            usage = http.get("/_internal/usage", headers={"x-goog-api-key": key}).json()
            assert int(usage["usedBytes"]) == sum(int(f["sizeBytes"]) for f in listed.values())
    finally:
        server.stop()
    reliability_report["fault: PostgreSQL restarts"] = {
        "faults": len(restarts),
        "restarts": restarts,
        "upload replies during the run": statuses,
        "acknowledged uploads, all read back": len(acked),
    }


def test_postgresql_unreachable_answers_503_unavailable_never_500(
    tmp_path: Path, postgres: RestartablePostgres
) -> None:
    server = LiveServer(
        tmp_path / "data", {**TORTURE_ENV, "GEMFILES_DATABASE_URL": postgres.server.database()}
    )
    server.start()
    try:
        proc = postgres.server.proc
        assert proc is not None
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            replies = [
                _raw(http, "pg-down", b"abc"),
                http.get("/v1beta/files", headers={"x-goog-api-key": "pg-down"}),
                http.get("/v1beta/files/nothing", headers={"x-goog-api-key": "pg-down"}),
            ]
    finally:
        postgres.restart(signal.SIGINT) if postgres.server.proc.poll() is not None else None  # type: ignore[union-attr]
        server.stop()
    got = [(r.status_code, r.json()["error"]["status"]) for r in replies]
    assert got == [(503, "UNAVAILABLE")] * 3, got


# S3 ---------------------------------------------------------------------------------------------------
@pytest.fixture
def s3_behind_proxy(tmp_path: Path) -> Iterator[tuple[LiveServer, FaultProxy]]:
    from tests.e2e.replicated import pg_s3_env
    from tests.e2e.services import shared_seaweedfs

    seaweed = shared_seaweedfs()
    proxy = FaultProxy("127.0.0.1", seaweed.port).start()
    env = {**pg_s3_env(), **TORTURE_ENV, "AWS_ENDPOINT_URL": proxy.endpoint}
    server = LiveServer(tmp_path / "data", env)
    server.start()
    yield server, proxy
    server.stop()
    proxy.stop()


def _start(http: httpx.Client, key: str, size: int) -> str:
    reply = http.post(
        "/upload/v1beta/files",
        headers={
            "x-goog-api-key": key,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": "text/plain",
        },
    )
    assert reply.status_code == 200, reply.text
    return reply.headers["x-goog-upload-url"]


def _chunk(http: httpx.Client, url: str, data: bytes, offset: int, command: str) -> httpx.Response:
    return http.post(
        url, content=data, headers={"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)}
    )


def test_s3_cutting_connections_is_503_active_and_the_same_chunk_goes_in_afterwards(
    s3_behind_proxy: tuple[LiveServer, FaultProxy], reliability_report: dict[str, Any]
) -> None:
    server, proxy = s3_behind_proxy
    key = "s3-faults"
    data = os.urandom(3 * MIB + 5)
    faults = []
    with httpx.Client(base_url=server.url, timeout=120) as http:
        url = _start(http, key, len(data))
        assert _chunk(http, url, data[:MIB], 0, "upload").status_code == 200
        proxy.set_mode("reset")
        refused = _chunk(http, url, data[MIB : 2 * MIB], MIB, "upload")
        faults.append(
            {
                "what": "chunk while S3 resets connections",
                "status": refused.status_code,
                "body": refused.text[:200],
            }
        )
        listed = http.get("/v1beta/files", headers={"x-goog-api-key": key})  # metadata only: unaffected
        proxy.set_mode("pass")
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["status"] == "UNAVAILABLE"
        assert refused.headers["x-goog-upload-status"] == "active"
        assert listed.status_code == 200
        query = http.post(url, headers={"X-Goog-Upload-Command": "query"})
        assert query.headers["x-goog-upload-size-received"] == str(MIB)
        assert _chunk(http, url, data[MIB : 2 * MIB], MIB, "upload").status_code == 200
        # The finalize itself meets the fault: 503, then the same finalize succeeds.
        assert _chunk(http, url, data[2 * MIB : 3 * MIB], 2 * MIB, "upload").status_code == 200
        proxy.set_mode("reset")
        final = _chunk(http, url, data[3 * MIB :], 3 * MIB, "upload, finalize")
        faults.append(
            {
                "what": "finalize while S3 resets connections",
                "status": final.status_code,
                "body": final.text[:200],
            }
        )
        proxy.set_mode("pass")
        if final.status_code != 200:
            assert final.status_code == 503, final.text
            query = http.post(url, headers={"X-Goog-Upload-Command": "query"})
            received = int(query.headers.get("x-goog-upload-size-received", len(data)))
            final = _chunk(http, url, data[received:], received, "upload, finalize")
        assert final.status_code == 200, final.text
        file = final.json()["file"]
        assert file["sha256Hash"] == sha256_hash(hashlib.sha256(data).hexdigest())
        got = http.get(
            f"/v1beta/{file['name']}:download", params={"alt": "media"}, headers={"x-goog-api-key": key}
        )
        assert got.content == data
    reliability_report["fault: S3 connection resets"] = {
        "faults": len(faults),
        "replies": faults,
        "cut": proxy.cut,
    }


def test_s3_stalling_holds_only_the_requests_that_need_it_and_nothing_is_lost(
    s3_behind_proxy: tuple[LiveServer, FaultProxy], reliability_report: dict[str, Any]
) -> None:
    server, proxy = s3_behind_proxy
    key = "s3-stall"
    data = os.urandom(MIB + 7)
    with httpx.Client(base_url=server.url, timeout=120) as http:
        url = _start(http, key, len(data))
        proxy.set_mode("stall")
        result: dict[str, Any] = {}

        def upload() -> None:
            began = time.monotonic()
            with httpx.Client(timeout=120) as other:
                result["reply"] = _chunk(other, url, data, 0, "upload, finalize")
            result["seconds"] = time.monotonic() - began

        thread = threading.Thread(target=upload)
        thread.start()
        time.sleep(0.5)
        # Requests that need only the metadata are answered while the store hangs.
        began = time.monotonic()
        for _ in range(10):
            assert http.get("/v1beta/files", headers={"x-goog-api-key": key}).status_code == 200
        others = time.monotonic() - began
        time.sleep(3.0)
        proxy.set_mode("pass")
        thread.join(120)
        reply = result["reply"]
        if reply.status_code != 200:
            assert reply.status_code == 503, reply.text
            query = http.post(url, headers={"X-Goog-Upload-Command": "query"})
            received = int(query.headers.get("x-goog-upload-size-received", "0"))
            reply = _chunk(http, url, data[received:], received, "upload, finalize")
        assert reply.status_code == 200, reply.text
        assert reply.json()["file"]["sha256Hash"] == sha256_hash(hashlib.sha256(data).hexdigest())
    reliability_report["fault: S3 stall"] = {
        "faults": 1,
        "stall_s": 3.5,
        "upload finished after (s)": round(result["seconds"], 2),
        "10 lists during the stall took (s)": round(others, 3),
    }
    assert others < 5.0  # blocked behind the stall, they would wait for its end, which comes after them
