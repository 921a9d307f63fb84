"""The console's admin JSON and its page: Bearer-only, previews from probe children, media with Range (also
through a signed URL), uploads in progress, batch jobs, recent requests and traffic."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from gemfiles.domain.projects import open_project
from tests.protocol.uploading import assert_error, new_upload, send, upload_file
from tests.support import LiveServer
from tests.unit.media import samples

TOKEN = "console-token-for-tests"


@pytest.fixture
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory(GEMFILES_ADMIN_TOKEN=TOKEN)


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{server.url}/_internal/admin", headers={"authorization": f"Bearer {TOKEN}"}, timeout=60
    ) as client:
        yield client


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as plain:
        yield plain


def test_console_endpoints_refuse_a_missing_or_wrong_token(client: httpx.Client) -> None:
    for path in (
        "uploads",
        "batches",
        "requests",
        "traffic",
        "projects/p/files",
        "projects/p/files/f/preview",
    ):
        assert_error(client.get(f"/_internal/admin/{path}"), 401, "UNAUTHENTICATED")
        wrong = {"authorization": f"Bearer {TOKEN}-not"}
        assert_error(client.get(f"/_internal/admin/{path}", headers=wrong), 401, "UNAUTHENTICATED")


def test_console_page_and_assets_are_served_with_a_strict_policy(client: httpx.Client) -> None:
    page = client.get("/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<script src="/console/console.js"' in page.text
    for asset, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        reply = client.get(f"/console/{asset}")
        assert reply.status_code == 200 and reply.headers["content-type"].startswith(kind)
    assert_error(client.get("/console/../pyproject.toml"), 404, "NOT_FOUND")
    assert_error(client.get("/console/secrets.txt"), 404, "NOT_FOUND")


def test_console_does_not_exist_without_an_admin_token(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as plain:
        assert_error(plain.get("/console"), 404, "NOT_FOUND")
        assert_error(plain.get("/console/console.js"), 404, "NOT_FOUND")


def test_files_of_a_project_carry_state_size_type_expiry_hash_and_preview(
    client: httpx.Client, admin: httpx.Client, api_key: str
) -> None:
    data = samples.image("JPEG", 900, 600)
    made = upload_file(client, api_key, data, mime_type="image/jpeg", body={"file": {"displayName": "a.jpg"}})
    project = open_project(api_key)
    listed = admin.get(f"/projects/{project}/files").json()["files"]
    assert len(listed) == 1
    row = listed[0]
    assert (row["name"], row["displayName"], row["mimeType"], row["kind"]) == (
        made["name"],
        "a.jpg",
        "image/jpeg",
        "image",
    )
    assert row["sizeBytes"] == str(len(data)) and row["state"] == "ACTIVE" and row["preview"] is True
    assert row["expireTime"][:26] == made["expirationTime"][:26]
    assert row["sha256Hex"] == hashlib.sha256(data).hexdigest()
    assert "mediaUrl" not in row

    preview = admin.get(f"/projects/{project}/{made['name']}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(preview.content)).size == (320, 213)
    assert_error(admin.get(f"/projects/{project}/files/nosuchfile/preview"), 403, "PERMISSION_DENIED")


def test_a_pdf_preview_is_its_first_pages_text_with_a_note(
    client: httpx.Client, admin: httpx.Client, api_key: str
) -> None:
    made = upload_file(client, api_key, samples.pdf(["Hello console", None]), mime_type="application/pdf")
    preview = admin.get(f"/projects/{open_project(api_key)}/{made['name']}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    assert "page 1 of 2" in preview.headers["x-preview-note"]


def test_a_file_without_a_picture_has_no_preview(
    client: httpx.Client, admin: httpx.Client, api_key: str
) -> None:
    made = upload_file(client, api_key, b"just words\n", mime_type="text/plain")
    project = open_project(api_key)
    assert admin.get(f"/projects/{project}/files").json()["files"][0]["preview"] is False
    assert_error(admin.get(f"/projects/{project}/{made['name']}/preview"), 404, "NOT_FOUND")


def test_audio_streams_with_range_through_bearer_or_its_signed_url(
    client: httpx.Client, admin: httpx.Client, api_key: str
) -> None:
    data = samples.audio("wav", "pcm_s16le", 0.5, 8000, 1)
    made = upload_file(client, api_key, data, mime_type="audio/wav")
    project = open_project(api_key)
    row = admin.get(f"/projects/{project}/files").json()["files"][0]
    content = f"/projects/{project}/{made['name']}/content"
    part = admin.get(content, headers={"range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"

    signed = client.get(row["mediaUrl"], headers={"range": "bytes=0-3"})
    assert signed.status_code == 206 and signed.content == data[:4]
    assert client.get(row["mediaUrl"]).content == data
    query = parse_qs(urlsplit(row["mediaUrl"]).query)
    path = urlsplit(row["mediaUrl"]).path
    assert_error(client.get(path), 401, "UNAUTHENTICATED")
    tampered = f"{path}?expires={query['expires'][0]}&signature={'0' * 64}"
    assert_error(client.get(tampered), 401, "UNAUTHENTICATED")
    expired = f"{path}?expires={int(time.time()) - 1}&signature={query['signature'][0]}"
    assert_error(client.get(expired), 401, "UNAUTHENTICATED")
    other = row["mediaUrl"].replace(made["name"].removeprefix("files/"), "otherfile")
    assert_error(client.get(other), 401, "UNAUTHENTICATED")


def test_uploads_in_progress_show_received_and_declared_bytes_never_the_upload_id(
    client: httpx.Client, admin: httpx.Client, api_key: str
) -> None:
    url = new_upload(client, api_key, 1000, body={"file": {"displayName": "big.txt"}})
    assert send(client, url, "upload", b"x" * 400, 0).status_code == 200
    listed = admin.get("/uploads")
    mine = [u for u in listed.json()["uploads"] if u["project"] == open_project(api_key)]
    assert len(mine) == 1
    assert (mine[0]["displayName"], mine[0]["receivedBytes"], mine[0]["declaredBytes"]) == (
        "big.txt",
        "400",
        "1000",
    )
    upload_id = parse_qs(urlsplit(url).query)["upload_id"][0]
    assert upload_id not in listed.text


def test_recent_requests_and_traffic_count_what_the_server_answered(
    client: httpx.Client, admin: httpx.Client, api_key: str
) -> None:
    upload_file(client, api_key, b"y" * 5000, mime_type="text/plain")
    lines = admin.get("/requests").json()["requests"]
    routes = [line["route"] for line in lines]
    assert "/upload/{version}files" in routes
    assert all(api_key not in str(line) for line in lines)
    traffic = admin.get("/traffic").json()
    assert traffic["stepSeconds"] == 5 and len(traffic["requests"]) == len(traffic["uploadBytes"]) == 120
    assert sum(traffic["requests"]) >= 3 and sum(traffic["uploadBytes"]) >= 5000
