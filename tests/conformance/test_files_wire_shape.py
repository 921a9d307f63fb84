"""The File resource and the Files endpoints over raw HTTP: the JSON the SDKs parse, byte for byte."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.conformance.expect import (
    NON_ASCII_NAME,
    UNSUPPORTED_MIME,
    permission_denied_message,
    sha256_hash_field,
)

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
GENERATED_NAME = re.compile(r"^files/[a-z0-9]{1,40}$")
ANY_NAME = re.compile(r"^files/[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
# WIRE.md 7.1: Google's field order; displayName only when set; error/videoMetadata/downloadUri never here.
FIELD_ORDER = [
    "name",
    "displayName",
    "mimeType",
    "sizeBytes",
    "createTime",
    "updateTime",
    "expirationTime",
    "sha256Hash",
    "uri",
    "state",
    "source",
]


def upload(http: httpx.Client, data: bytes, mime_type: str, **file: str) -> httpx.Response:
    """One resumable upload as the SDKs do it: start, then a single ``upload, finalize`` chunk."""
    start = http.post(
        "/upload/v1beta/files",
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": mime_type,
        },
        json={"file": file},
    )
    assert start.status_code == 200, start.text
    assert start.headers["x-goog-upload-status"] == "active"
    return http.post(
        start.headers["x-goog-upload-url"],
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        content=data,
    )


def parse_time(value: str) -> datetime:
    assert RFC3339_UTC.match(value), value
    whole, _, fraction = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}+00:00")


def assert_file_shape(file: dict[str, Any], data: bytes, mime_type: str, origin: str) -> None:
    assert list(file) == [key for key in FIELD_ORDER if key in file]
    assert set(FIELD_ORDER) - set(file) <= {"displayName"}
    assert ANY_NAME.match(file["name"])
    assert file["mimeType"] == mime_type
    assert file["sizeBytes"] == str(len(data))
    created, updated = parse_time(file["createTime"]), parse_time(file["updateTime"])
    expires = parse_time(file["expirationTime"])
    assert created == updated
    assert timedelta(hours=47, minutes=59) < expires - created <= timedelta(hours=48)
    assert file["sha256Hash"] == sha256_hash_field(data)
    assert file["uri"] == f"{origin}/v1beta/{file['name']}"
    assert file["state"] == "ACTIVE"
    assert file["source"] == "UPLOADED"


def assert_permission_denied(response: httpx.Response, name: str) -> None:
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "error": {"code": 403, "message": permission_denied_message(name), "status": "PERMISSION_DENIED"}
    }


def test_upload_finalize_returns_file_wrapped_in_google_shape(http: httpx.Client) -> None:
    data = b"shape check\n"
    response = upload(http, data, "text/plain", display_name="shape")
    assert response.status_code == 200
    assert response.headers["x-goog-upload-status"] == "final"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["file"]
    assert_file_shape(body["file"], data, "text/plain", str(http.base_url).rstrip("/"))
    assert GENERATED_NAME.match(body["file"]["name"])
    assert body["file"]["displayName"] == "shape"


def test_get_and_list_return_the_same_file_json_as_finalize(http: httpx.Client) -> None:
    created = upload(http, b"same everywhere", "text/plain").json()["file"]
    assert "displayName" not in created
    for version in ("v1", "v1beta", "v1alpha"):
        got = http.get(f"/{version}/{created['name']}")
        assert got.status_code == 200
        assert got.json() == created
    listed = http.get("/v1beta/files")
    assert listed.status_code == 200
    assert listed.headers["content-type"].startswith("application/json")
    assert listed.json() == {"files": [created]}


def test_get_non_ascii_display_name_is_utf8_json(http: httpx.Client) -> None:
    created = upload(http, b"x", "text/plain", displayName=NON_ASCII_NAME).json()["file"]
    got = http.get(f"/v1beta/{created['name']}")
    assert "charset=utf-8" in got.headers["content-type"].lower()
    assert got.json()["displayName"] == NON_ASCII_NAME


def test_list_empty_project_answers_200_without_files(http: httpx.Client) -> None:
    response = http.get("/v1beta/files", params={"pageSize": 2})
    assert response.status_code == 200
    assert response.json().get("files", []) == []
    assert not response.json().get("nextPageToken")


def test_list_page_size_2_pages_have_two_items_and_opaque_tokens(http: httpx.Client) -> None:
    names = [upload(http, f"{i}".encode(), "text/plain").json()["file"]["name"] for i in range(5)]
    pages, params = [], {"pageSize": "2"}
    while True:
        body = http.get("/v1beta/files", params=params).json()
        pages.append([f["name"] for f in body["files"]])
        if "nextPageToken" not in body:
            break
        assert body["nextPageToken"] and body["nextPageToken"] not in names
        params["pageToken"] = body["nextPageToken"]
    assert pages == [names[4:2:-1], names[2:0:-1], names[0:1]]


def test_delete_answers_200_empty_object_then_get_is_403(http: httpx.Client) -> None:
    name = upload(http, b"bye", "text/plain").json()["file"]["name"]
    deleted = http.delete(f"/v1beta/{name}")
    assert deleted.status_code == 200
    assert deleted.json() == {}
    assert_permission_denied(http.get(f"/v1beta/{name}"), name)
    assert_permission_denied(http.delete(f"/v1beta/{name}"), name)


def test_get_never_existing_file_is_403_not_404(http: httpx.Client) -> None:
    assert_permission_denied(http.get("/v1beta/files/doesnotexist1"), "files/doesnotexist1")


def test_upload_unsupported_mime_type_fails_at_finalize_with_status_final(http: httpx.Client) -> None:
    response = upload(http, b"mystery", UNSUPPORTED_MIME)
    assert response.status_code == 400
    assert response.headers["x-goog-upload-status"] == "final"
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"] == f"Unsupported MIME type: {UNSUPPORTED_MIME}"
    assert http.get("/v1beta/files").json().get("files", []) == []


def test_upload_duplicate_custom_name_is_409_already_exists(http: httpx.Client) -> None:
    first = upload(http, b"one", "text/plain", name="files/my-custom-1")
    assert first.status_code == 200
    assert first.json()["file"]["name"] == "files/my-custom-1"
    second = http.post(
        "/upload/v1beta/files",
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "3",
            "X-Goog-Upload-Header-Content-Type": "text/plain",
        },
        json={"file": {"name": "files/my-custom-1"}},
    )
    assert second.status_code == 409
    assert second.json()["error"]["status"] == "ALREADY_EXISTS"
    assert http.get("/v1beta/files/my-custom-1").json()["sha256Hash"] == sha256_hash_field(b"one")


def test_key_query_parameter_works_like_the_header(http: httpx.Client, api_key: str) -> None:
    created = upload(http, b"by query", "text/plain").json()["file"]
    with httpx.Client(base_url=http.base_url) as keyless:
        assert keyless.get(f"/v1beta/{created['name']}", params={"key": api_key}).json() == created
        assert keyless.get("/v1beta/files", params={"key": api_key}).json() == {"files": [created]}
        assert keyless.get(f"/v1beta/{created['name']}").status_code == 403
