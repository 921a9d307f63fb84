"""The admin API under /_internal/admin/: off without a token, Bearer-only, quotas enforced on real uploads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.protocol.uploading import assert_error, start_upload, upload_file
from tests.support import LiveServer

TOKEN = "admin-token-for-tests"


@pytest.fixture
def admin_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory(GEMFILES_ADMIN_TOKEN=TOKEN, GEMFILES_AUTH="keys")


@pytest.fixture
def admin(admin_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{admin_server.url}/_internal/admin",
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=30,
    ) as client:
        yield client


def test_admin_api_without_a_configured_token_does_not_exist(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        for path in ("/_internal/admin/projects", "/_internal/admin/keys"):
            assert_error(client.get(path, headers={"authorization": "Bearer anything"}), 404, "NOT_FOUND")


def test_admin_api_refuses_a_missing_or_wrong_token_in_googles_envelope(admin_server: LiveServer) -> None:
    with httpx.Client(base_url=admin_server.url, timeout=30) as client:
        assert_error(client.get("/_internal/admin/projects"), 401, "UNAUTHENTICATED")
        wrong = {"authorization": f"Bearer {TOKEN}x"}
        assert_error(client.get("/_internal/admin/keys", headers=wrong), 401, "UNAUTHENTICATED")
        basic = {"authorization": f"Basic {TOKEN}"}
        assert_error(
            client.post("/_internal/admin/keys", headers=basic, json={"project": "p"}), 401, "UNAUTHENTICATED"
        )


def test_keys_created_listed_and_revoked_through_the_admin_api(
    admin_server: LiveServer, admin: httpx.Client
) -> None:
    made = admin.post("/keys", json={"project": "team-a"})
    assert made.status_code == 200, made.text
    key = made.json()["key"]
    assert made.json()["prefix"] == key[:10] and made.json()["project"] == "team-a"
    with httpx.Client(base_url=admin_server.url, timeout=30) as client:
        assert client.get("/v1beta/files", headers={"x-goog-api-key": key}).status_code == 200
        listed = admin.get("/keys").json()["keys"]
        assert [(k["prefix"], k["project"]) for k in listed] == [(key[:10], "team-a")]
        assert key not in admin.get("/keys").text
        assert admin.delete(f"/keys/{key[:10]}").json() == {"revoked": 1}
        assert_error(admin.delete(f"/keys/{key[:10]}"), 404, "NOT_FOUND")
        assert "revokeTime" in admin.get("/keys").json()["keys"][0]
        refused = client.get("/v1beta/files", headers={"x-goog-api-key": key})
        for _ in range(30):  # revocations take effect within the key cache's 2 s
            if refused.status_code != 200:
                break
            time.sleep(0.2)
            refused = client.get("/v1beta/files", headers={"x-goog-api-key": key})
        assert refused.status_code == 400


def test_key_revoked_through_the_admin_api_is_refused_at_once_by_that_server(
    admin_server: LiveServer, admin: httpx.Client
) -> None:
    key = admin.post("/keys", json={"project": "team-b"}).json()["key"]
    with httpx.Client(base_url=admin_server.url, timeout=30) as client:
        assert client.get("/v1beta/files", headers={"x-goog-api-key": key}).status_code == 200  # now cached
        assert admin.delete(f"/keys/{key[:10]}").json() == {"revoked": 1}
        assert client.get("/v1beta/files", headers={"x-goog-api-key": key}).status_code == 400


def test_a_project_quota_override_refuses_a_real_upload_with_429(
    admin_server: LiveServer, admin: httpx.Client
) -> None:
    key = admin.post("/keys", json={"project": "small"}).json()["key"]
    set_quota = admin.put("/projects/small/quota", json={"quotaBytes": "1500"})
    assert set_quota.status_code == 200, set_quota.text
    assert set_quota.json()["quotaBytes"] == "1500" and set_quota.json()["ownQuota"] is True
    with httpx.Client(base_url=admin_server.url, timeout=30) as client:
        upload_file(client, key, b"a" * 1000)
        error = assert_error(start_upload(client, key, size=1000), 429, "RESOURCE_EXHAUSTED")
        assert "1500" in error["message"]
        usage = admin.get("/usage", headers={"x-goog-api-key": key}).json()
        assert (usage["project"], usage["usedBytes"], usage["files"], usage["quotaBytes"]) == (
            "small",
            "1000",
            1,
            "1500",
        )
        listed = {p["project"]: p for p in admin.get("/projects").json()["projects"]}
        assert listed["small"]["usedBytes"] == "1000"
        back = admin.put("/projects/small/quota", json={"quotaBytes": None})
        assert back.json()["ownQuota"] is False
        upload_file(client, key, b"b" * 1000)


def test_admin_api_refuses_bad_quotas_and_project_names(admin: httpx.Client) -> None:
    assert_error(admin.put("/projects/p/quota", json={"quotaBytes": "-5"}), 400, "INVALID_ARGUMENT")
    assert_error(admin.put("/projects/p/quota", json={"quotaBytes": "lots"}), 400, "INVALID_ARGUMENT")
    assert_error(admin.put("/projects/p/quota", json={}), 400, "INVALID_ARGUMENT")
    assert_error(admin.post("/keys", json={"project": "has space"}), 400, "INVALID_ARGUMENT")


def test_seed_dir_at_start_up_fills_the_projects_of_its_subdirectories(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    seed = tmp_path / "seed"
    (seed / "alpha").mkdir(parents=True)
    (seed / "alpha" / "hello.txt").write_text("hello")
    (seed / "beta" / "nested").mkdir(parents=True)
    (seed / "beta" / "nested" / "page.html").write_text("<p>hi</p>")
    data = tmp_path / "data"
    env = {"GEMFILES_SEED_DIR": str(seed), "GEMFILES_ADMIN_TOKEN": TOKEN}
    server = server_factory(data, **env)
    headers = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"{server.url}/_internal/admin", headers=headers, timeout=30) as client:
        rows = {p["project"]: p for p in client.get("/projects").json()["projects"]}
    assert (rows["alpha"]["files"], rows["alpha"]["usedBytes"]) == (1, "5")
    assert rows["beta"]["files"] == 1
    server.stop()
    server.start()  # seeding again at start-up adds nothing
    with httpx.Client(base_url=f"{server.url}/_internal/admin", headers=headers, timeout=30) as client:
        again = {p["project"]: p["files"] for p in client.get("/projects").json()["projects"]}
    assert again == {"alpha": 1, "beta": 1}
