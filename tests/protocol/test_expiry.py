"""Expiry of files and abandoned upload sessions, driven by the server's injected clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from tests.protocol.uploading import (
    advance_clock,
    assert_error,
    get_file,
    inline_bytes,
    list_names,
    new_upload,
    send,
    sha256_hash,
    start_upload,
    sweep,
    upload_all,
    upload_dir,
    usage,
)
from tests.support import LiveServer


def served(tmp_path_factory: pytest.TempPathFactory, name: str, **env: str) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp(name) / "data", {"GEMFILES_EMULATOR_CONTROLS": "true", **env})
    with server:
        yield server


@pytest.fixture(scope="module")
def default_ttl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Google's 48 h file lifetime; upload sessions live 2 h here."""
    yield from served(tmp_path_factory, "expiry", GEMFILES_UPLOAD_SESSION_TTL="2h")


@pytest.fixture(scope="module")
def short_ttl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from served(tmp_path_factory, "short-ttl", GEMFILES_FILE_TTL="30m")


def parse_time(text: str) -> datetime:
    """RFC 3339 with up to 9 fractional digits (Python keeps 6)."""
    assert text.endswith("Z")
    whole, _, fraction = text[:-1].partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}+00:00")


def upload(client: httpx.Client, key: str, data: bytes) -> tuple[str, dict]:
    url = new_upload(client, key, len(data))
    reply = upload_all(client, url, data, 1 << 20)
    assert reply.status_code == 200, reply.text
    return url, reply.json()["file"]


def test_get_file_after_48h_is_denied_and_sweep_frees_bytes(
    default_ttl_server: LiveServer, api_key: str
) -> None:
    with httpx.Client(base_url=default_ttl_server.url, timeout=30) as client:
        url, file = upload(client, api_key, b"expiring bytes" * 1000)
        created, expires = parse_time(file["createTime"]), parse_time(file["expirationTime"])
        assert expires - created == timedelta(hours=48)
        # 14,000 bytes sent whole: kept in the database with the file's row (64 KiB and under).
        assert inline_bytes(default_ttl_server.data_dir, url) == b"expiring bytes" * 1000
        assert usage(client, api_key) == (14000, 0)

        advance_clock(client, "47h")
        assert get_file(client, api_key, file["name"]).status_code == 200
        advance_clock(client, "2h")
        # Gone from get and list at once, before any sweep.
        assert_error(
            get_file(client, api_key, file["name"]),
            403,
            "PERMISSION_DENIED",
            f"You do not have permission to access the File {file['name'].removeprefix('files/')} "
            "or it may not exist.",
        )
        listed = client.get("/v1beta/files", headers={"x-goog-api-key": api_key})
        assert listed.status_code == 200 and listed.json() == {}
        deleted = client.delete(f"/v1beta/{file['name']}", headers={"x-goog-api-key": api_key})
        assert_error(deleted, 403, "PERMISSION_DENIED")
        # The upload URL no longer hands out the expired file either.
        assert send(client, url, "query").status_code >= 400

        report = sweep(client)
        assert report["files"] >= 1
        assert inline_bytes(default_ttl_server.data_dir, url) is None
        assert usage(client, api_key) == (0, 0)


def test_upload_custom_name_of_expired_file_is_reusable(default_ttl_server: LiveServer, api_key: str) -> None:
    with httpx.Client(base_url=default_ttl_server.url, timeout=30) as client:
        body = {"file": {"name": "files/reused-name"}}
        upload_all(client, new_upload(client, api_key, 3, body=body), b"old", 3)
        assert_error(start_upload(client, api_key, size=3, body=body), 409, "ALREADY_EXISTS")
        advance_clock(client, "49h")
        reply = upload_all(client, new_upload(client, api_key, 3, body=body), b"new", 3)
        assert reply.status_code == 200, reply.text
        file = reply.json()["file"]
        assert file["name"] == "files/reused-name"
        assert file["sha256Hash"] == sha256_hash(b"new")
        assert usage(client, api_key) == (3, 0)


def test_upload_session_abandoned_past_ttl_expires_and_frees(
    default_ttl_server: LiveServer, api_key: str
) -> None:
    with httpx.Client(base_url=default_ttl_server.url, timeout=30) as client:
        url = new_upload(client, api_key, 4096)
        assert send(client, url, "upload", b"p" * 1024, 0).status_code == 200
        parts = upload_dir(default_ttl_server.data_dir, url)
        assert parts.is_dir() and any(parts.iterdir())
        assert usage(client, api_key) == (0, 4096)

        advance_clock(client, "1h")
        assert send(client, url, "query").headers["x-goog-upload-size-received"] == "1024"
        advance_clock(client, "61m")
        for command, data, offset in (("query", b"", None), ("upload", b"p" * 1024, 1024)):
            reply = send(client, url, command, data, offset)
            assert_error(reply, 404, "NOT_FOUND")
            assert reply.headers["x-goog-upload-status"] != "active"

        report = sweep(client)
        assert report["sessions"] >= 1
        assert not parts.exists()
        assert usage(client, api_key) == (0, 0)
        assert list_names(client, api_key) == []
        assert_error(send(client, url, "query"), 404, "NOT_FOUND")


def test_upload_file_ttl_setting_sets_expiration_time(short_ttl_server: LiveServer, api_key: str) -> None:
    with httpx.Client(base_url=short_ttl_server.url, timeout=30) as client:
        url, file = upload(client, api_key, b"short-lived")
        assert inline_bytes(short_ttl_server.data_dir, url) == b"short-lived"
        assert parse_time(file["expirationTime"]) - parse_time(file["createTime"]) == timedelta(minutes=30)
        assert file["createTime"] == file["updateTime"]
        advance_clock(client, "29m")
        assert get_file(client, api_key, file["name"]).json() == file
        assert list_names(client, api_key) == [file["name"]]
        advance_clock(client, "2m")
        assert_error(get_file(client, api_key, file["name"]), 403, "PERMISSION_DENIED")
        assert list_names(client, api_key) == []
        sweep(client)
        assert inline_bytes(short_ttl_server.data_dir, url) is None
        assert usage(client, api_key) == (0, 0)


@pytest.mark.parametrize("content", [b"[1, 2]", b'"49h"', b"{not json", b"x" * (2 << 20)])
def test_advance_clock_with_a_body_that_is_not_a_json_object_is_refused(
    short_ttl_server: LiveServer, content: bytes
) -> None:
    with httpx.Client(base_url=short_ttl_server.url, timeout=30) as client:
        assert_error(client.post("/_internal/clock", content=content), 400, "INVALID_ARGUMENT")
