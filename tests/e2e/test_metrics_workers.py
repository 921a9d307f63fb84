"""GET /metrics with --workers 2: the Prometheus client's multi-process mode sums every process's counters,
whichever process answers the scrape."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.protocol.metrics import scrape, value
from tests.protocol.uploading import upload_file
from tests.support import LiveServer

FILE_ROUTE = "/{version}files/{name}"


def test_counters_are_summed_across_worker_processes(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    stale = data / "metrics" / "counter_999999.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by an earlier run")
    server = server_factory(data, GEMFILES_WORKERS="2", GEMFILES_METRICS_CACHE_SECONDS="0")
    assert not stale.exists()  # emptied at start-up: an earlier run's values are never summed in
    key = "workers-metrics"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        file = upload_file(client, key, b"w" * 2048, chunk=1024)
    for _ in range(40):  # fresh connections: the kernel spreads them over both processes
        reply = httpx.get(f"{server.url}/v1beta/{file['name']}", headers={"x-goog-api-key": key}, timeout=30)
        assert reply.status_code == 200
    for _ in range(3):
        assert httpx.get(f"{server.url}/v1beta/nothing/here", timeout=30).status_code == 404
    pids = {p.name.split("_")[-1] for p in (data / "metrics").glob("histogram_*.db")}
    assert len(pids) >= 2, pids  # both processes answered requests
    for _ in range(4):  # each scrape, whichever process answers it, sees every process's counts
        with httpx.Client(base_url=server.url, timeout=30) as client:
            samples = scrape(client)
        requests = "gemfiles_http_requests_total"
        assert value(samples, requests, route=FILE_ROUTE, method="GET", status="200") == 40
        assert value(samples, requests, route="/upload/{version}files", method="POST", status="200") == 3
        assert value(samples, requests, route="<unmatched>", method="GET", status="404") == 3
        assert value(samples, "gemfiles_upload_received_bytes_total") == 2048
        assert (
            value(samples, "gemfiles_http_request_duration_seconds_count", route=FILE_ROUTE, method="GET")
            == 40
        )
