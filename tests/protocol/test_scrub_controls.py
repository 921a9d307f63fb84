"""The scrub of orphan bytes over HTTP: the admin endpoint, the sweep control's ``scrub`` flag, its report,
its counters on /metrics and its refusals of bad input (Google's envelope, never a 500)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.protocol.metrics import scrape, value
from tests.protocol.uploading import assert_error
from tests.support import LiveServer, plant_orphan

TOKEN = "admin-token-for-scrub"


@pytest.fixture
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    # No background work: the start-up scrub must not race the scrubs these tests ask for.
    return server_factory(
        GEMFILES_ADMIN_TOKEN=TOKEN, GEMFILES_EMULATOR_CONTROLS="true", GEMFILES_RUN_WORKERS="false"
    )


def test_admin_scrub_removes_orphans_past_the_grace_and_says_what_it_removed(server: LiveServer) -> None:
    old = plant_orphan(server.data_dir, "ab0old0orphan", 300, age_seconds=2 * 3600)
    fresh = plant_orphan(server.data_dir, "cd0fresh0orphan", 5)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        reply = client.post("/_internal/admin/scrub", headers={"authorization": f"Bearer {TOKEN}"})
        assert reply.status_code == 200, reply.text
        report = reply.json()
        samples = scrape(client)

    assert (report["removedObjects"], report["removedUploads"], report["removedBytes"]) == (1, 0, "300")
    assert report["keys"] == ["ab/ab0old0orphan"] and report["waiting"] == 1 and report["failed"] == 0
    assert not old.exists() and fresh.exists()  # inside the default grace of an hour: maybe in flight
    assert value(samples, "gemfiles_scrub_removed_objects_total", kind="object") >= 1
    assert value(samples, "gemfiles_scrub_removed_bytes_total") >= 300


def test_admin_scrub_dry_run_answers_what_it_would_remove_and_removes_nothing(server: LiveServer) -> None:
    old = plant_orphan(server.data_dir, "ab0dry0orphan", 40, age_seconds=2 * 3600)
    fresh = plant_orphan(server.data_dir, "cd0dry0fresh", 7)
    headers = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        dry = client.post("/_internal/admin/scrub", headers=headers, json={"dryRun": True, "graceSeconds": 0})
        assert dry.status_code == 200, dry.text
        assert old.exists() and fresh.exists()
        real = client.post(
            "/_internal/admin/scrub", headers=headers, json={"graceSeconds": 0, "allKeys": True}
        )
        assert real.status_code == 200, real.text

    for report in (dry.json(), real.json()):
        assert (report["removedObjects"], report["removedObjectBytes"], report["removedBytes"]) == (
            2,
            "47",
            "47",
        )
        assert sorted(report["keys"]) == ["ab/ab0dry0orphan", "cd/cd0dry0fresh"]
    assert dry.json()["dryRun"] is True and real.json()["dryRun"] is False
    assert not old.exists() and not fresh.exists()


@pytest.mark.parametrize(
    "body", [{"dryRun": "yes"}, {"allKeys": 1}, {"graceSeconds": -1}, {"graceSeconds": "1h"}, []]
)
def test_admin_scrub_with_bad_options_is_refused(server: LiveServer, body: object) -> None:
    old = plant_orphan(server.data_dir, "ab0kept0orphan", 3, age_seconds=2 * 3600)
    reply = httpx.post(
        f"{server.url}/_internal/admin/scrub",
        headers={"authorization": f"Bearer {TOKEN}"},
        json=body,
        timeout=30,
    )
    assert_error(reply, 400, "INVALID_ARGUMENT")
    assert old.exists()


def test_admin_scrub_needs_the_admin_token(server: LiveServer, live_server: LiveServer) -> None:
    with httpx.Client(timeout=30) as client:
        assert_error(client.post(f"{server.url}/_internal/admin/scrub"), 401, "UNAUTHENTICATED")
        wrong = {"authorization": f"Bearer {TOKEN}x"}
        assert_error(
            client.post(f"{server.url}/_internal/admin/scrub", headers=wrong), 401, "UNAUTHENTICATED"
        )
        off = client.post(f"{live_server.url}/_internal/admin/scrub", headers={"authorization": "Bearer x"})
        assert_error(off, 404, "NOT_FOUND")


def test_sweep_with_scrub_and_no_grace_removes_fresh_orphans(server: LiveServer) -> None:
    fresh = plant_orphan(server.data_dir, "ef0fresh0orphan", 10)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        plain = client.post("/_internal/sweep")
        assert plain.status_code == 200 and "scrub" not in plain.json()
        assert fresh.exists()
        reply = client.post("/_internal/sweep", json={"scrub": True, "graceSeconds": 0})

    assert reply.status_code == 200, reply.text
    assert reply.json()["scrub"]["keys"] == ["ef/ef0fresh0orphan"]
    assert not fresh.exists()


@pytest.mark.parametrize("grace", [-1, "0", True, [], {}])
def test_sweep_with_a_grace_that_is_not_a_number_of_seconds_is_refused(
    client: httpx.Client, grace: object
) -> None:
    reply = client.post("/_internal/sweep", json={"scrub": True, "graceSeconds": grace})
    assert_error(reply, 400, "INVALID_ARGUMENT")


def test_sweep_with_a_body_that_is_not_an_object_is_refused(client: httpx.Client) -> None:
    reply = client.post("/_internal/sweep", content=b"[]", headers={"Content-Type": "application/json"})
    assert_error(reply, 400, "INVALID_ARGUMENT")


def test_the_scrub_runs_at_start_up_in_the_background(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "started"
    old = plant_orphan(data_dir, "aa0left0by0a0crash", 50, age_seconds=2 * 3600)
    fresh = plant_orphan(data_dir, "bb0maybe0in0flight", 50)
    server_factory(data_dir)  # healthy before the scrub is done or not: readiness does not wait for it
    deadline = time.monotonic() + 20
    while old.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not old.exists() and fresh.exists()
