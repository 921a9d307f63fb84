"""The two-replica deployment the replicas plugin runs the conformance suites on: requests alternate.

Under ``-p tests.e2e.replicas_plugin`` these tests check the very server the conformance tests use; in the
plain run they start a ReplicatedServer of their own.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from google import genai

from tests.conformance.conftest import TWENTY_MB
from tests.conformance.expect import decoded_sha256
from tests.e2e.replicated import ReplicatedServer
from tests.e2e.roundrobin import REPLICA_HEADER
from tests.support import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicatedServer]:
    """A deployment of this module's own, whose clock the tests below move by days."""
    data_dir = tmp_path_factory.mktemp("replicated-clock") / "data"
    server = ReplicatedServer(
        data_dir, {"GEMFILES_EMULATOR_CONTROLS": "true", "GEMFILES_SWEEP_INTERVAL": "1h"}
    )
    with server:
        yield server


@pytest.fixture(scope="module")
def replicated(live_server: LiveServer, own_replicated: ReplicatedServer) -> ReplicatedServer:
    """The conformance tests' own server under the plugin, else this module's."""
    return live_server if isinstance(live_server, ReplicatedServer) else own_replicated


def test_sdk_upload_of_20mb_sends_its_chunks_to_both_replicas(
    replicated: ReplicatedServer, api_key: str
) -> None:
    data = bytes(range(256)) * (TWENTY_MB // 256)
    served: list[tuple[str, str]] = []

    def record(response: httpx.Response) -> None:
        served.append(
            (response.request.headers.get("x-goog-upload-command", ""), response.headers[REPLICA_HEADER])
        )

    options: Any = {"base_url": replicated.url, "client_args": {"event_hooks": {"response": [record]}}}
    with genai.Client(api_key=api_key, http_options=options) as client:
        file = client.files.upload(file=io.BytesIO(data), config={"mime_type": "application/pdf"})
        assert file.name and client.files.get(name=file.name).size_bytes == len(data)

    assert decoded_sha256(file.sha256_hash) == hashlib.sha256(data).hexdigest()
    chunks = [replica for command, replica in served if command.startswith("upload")]
    assert len(chunks) == 3
    assert set(chunks) == {"0", "1"}
    replicas = [replica for _, replica in served]
    assert all(a != b for a, b in itertools.pairwise(replicas)), served


def test_requests_on_one_keep_alive_connection_alternate(replicated: ReplicatedServer) -> None:
    with httpx.Client(base_url=replicated.url, limits=httpx.Limits(max_connections=1)) as http:
        replicas = [http.get("/_internal/healthz").headers[REPLICA_HEADER] for _ in range(4)]
    assert replicas[0] != replicas[1] and replicas == replicas[:2] * 2


def replica_times(server: ReplicatedServer) -> list[datetime]:
    return [
        datetime.fromisoformat(httpx.get(f"{r.url}/_internal/clock").json()["now"]) for r in server.replicas
    ]


def test_clock_advance_through_the_proxy_moves_both_replicas(own_replicated: ReplicatedServer) -> None:
    before = replica_times(own_replicated)
    reply = httpx.post(f"{own_replicated.url}/_internal/clock", json={"advance": "1h"})
    assert reply.status_code == 200
    after = replica_times(own_replicated)
    assert all(new - old >= timedelta(hours=1) for old, new in zip(before, after, strict=True))


def test_sweep_through_the_proxy_deletes_each_expired_file_once(
    own_replicated: ReplicatedServer, api_key: str
) -> None:
    def advance_and_sweep() -> httpx.Response:
        assert httpx.post(f"{own_replicated.url}/_internal/clock", json={"advance": "49h"}).status_code == 200
        return httpx.post(f"{own_replicated.url}/_internal/sweep")

    advance_and_sweep()  # files the tests above left behind
    with genai.Client(api_key=api_key, http_options={"base_url": own_replicated.url}) as client:
        for text in (b"one", b"two", b"three"):
            client.files.upload(file=io.BytesIO(text), config={"mime_type": "text/plain"})
    reply = advance_and_sweep()
    assert reply.status_code == 200
    assert reply.json()["files"] == 3
    assert httpx.post(f"{own_replicated.url}/_internal/sweep").json()["files"] == 0
