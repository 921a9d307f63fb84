"""GET /metrics after a known sequence of calls: each counter exact, labels bounded, the token honoured."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.protocol.metrics import scrape, value
from tests.protocol.uploading import assert_error, upload_file
from tests.support import LiveServer

FILE_ROUTE = "/{version}files/{name}"
UPLOAD_ROUTE = "/upload/{version}files"


def test_metrics_count_uploads_gets_a_404_and_a_model_call_exactly(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(GEMFILES_METRICS_CACHE_SECONDS="0")
    key = "metrics-key"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        data = b"m" * 3000
        file = upload_file(client, key, data, chunk=1024)  # start + 3 chunks
        for _ in range(5):
            assert client.get(f"/v1beta/{file['name']}", headers={"x-goog-api-key": key}).status_code == 200
        assert client.get("/v1beta/files/missing0000", headers={"x-goog-api-key": key}).status_code == 403
        assert_error(client.get("/v1beta/no/such/path"), 404, "NOT_FOUND")
        reply = client.post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            headers={"x-goog-api-key": key},
            json={"contents": [{"parts": [{"text": "hello"}]}]},
        )
        assert reply.status_code == 200, reply.text
        samples = scrape(client)

    requests = "gemfiles_http_requests_total"
    assert value(samples, requests, route=UPLOAD_ROUTE, method="POST", status="200") == 4
    assert value(samples, requests, route=FILE_ROUTE, method="GET", status="200") == 5
    assert value(samples, requests, route=FILE_ROUTE, method="GET", status="403") == 1
    assert value(samples, requests, route="<unmatched>", method="GET", status="404") == 1
    assert value(samples, requests, route="/{version}models/{name}", method="POST", status="200") == 1
    latency = "gemfiles_http_request_duration_seconds_count"
    assert value(samples, latency, route=FILE_ROUTE, method="GET") == 6
    assert value(samples, "gemfiles_upload_received_bytes_total") == 3000
    assert (
        value(samples, "gemfiles_model_call_duration_seconds_count", backend="inspect", method="generate")
        == 1
    )
    assert not [name for (name, labels) in samples if ("route", "/v1beta/no/such/path") in labels]
    project_labels = {
        dict(labels)["project"] for (name, labels) in samples if name == "gemfiles_project_files"
    }
    assert len(project_labels) == 1
    (project,) = project_labels
    assert value(samples, "gemfiles_project_files", project=project) == 1
    assert value(samples, "gemfiles_project_used_bytes", project=project) == 3000
    assert value(samples, "gemfiles_project_quota_bytes", project=project) == 20 * 1024**3
    assert ("gemfiles_upload_sessions_in_progress", frozenset()) in samples
    assert ("gemfiles_probe_queue_depth", frozenset()) in samples


def test_metrics_with_a_token_refuse_a_scrape_without_it(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(GEMFILES_METRICS_TOKEN="scrape-secret-1")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert_error(client.get("/metrics"), 401, "UNAUTHENTICATED")
        assert_error(
            client.get("/metrics", headers={"authorization": "Bearer wrong-token"}), 401, "UNAUTHENTICATED"
        )
        assert ("gemfiles_probe_queue_depth", frozenset()) in scrape(client, "scrape-secret-1")


def test_per_project_gauges_name_the_top_projects_and_sum_the_rest(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(GEMFILES_METRICS_TOP_PROJECTS="2", GEMFILES_METRICS_CACHE_SECONDS="0")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(5):
            upload_file(client, f"project-key-{i}", b"x" * (100 * (i + 1)))
        samples = scrape(client)
    used = {
        dict(labels)["project"]: v
        for (name, labels), v in samples.items()
        if name == "gemfiles_project_used_bytes"
    }
    assert len(used) == 3 and used["other"] == 100 + 200 + 300
    assert sorted(v for p, v in used.items() if p != "other") == [400, 500]
