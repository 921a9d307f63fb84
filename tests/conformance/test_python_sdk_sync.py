"""The sync Python client (google-genai), unmodified, against a live server: what a user's code sees."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.conformance.conftest import TWENTY_MB
from tests.conformance.expect import (
    NON_ASCII_NAME,
    UNSUPPORTED_MIME,
    decoded_sha256,
    permission_denied_message,
    sha256_hash_field,
    tiny_png,
)
from tests.support import LiveServer

MiB = 1024 * 1024


def assert_uploaded(file: types.File, data: bytes, mime_type: str) -> None:
    assert file.name is not None and file.name.startswith("files/")
    assert file.mime_type == mime_type
    assert file.size_bytes == len(data)
    assert decoded_sha256(file.sha256_hash) == hashlib.sha256(data).hexdigest()
    assert file.state == types.FileState.ACTIVE
    assert file.source == types.FileSource.UPLOADED
    assert file.uri and file.uri.endswith("/" + file.name)


def test_client_configured_only_by_environment_reaches_server(
    live_server: LiveServer, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a user does: export two variables, run their code unchanged.
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", api_key)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", live_server.url)
    with genai.Client() as client:
        uploaded = client.files.upload(file=io.BytesIO(b"from env"), config={"mime_type": "text/plain"})
        assert [f.name for f in client.files.list()] == [uploaded.name]
    assert uploaded.sha256_hash == sha256_hash_field(b"from env")


def test_upload_small_file_returns_active_file(client: genai.Client) -> None:
    data = b"The quick brown fox jumps over the lazy dog.\n"
    uploaded = client.files.upload(
        file=io.BytesIO(data), config={"mime_type": "text/plain", "display_name": "fox.txt"}
    )
    assert_uploaded(uploaded, data, "text/plain")
    assert uploaded.display_name == "fox.txt"
    assert uploaded.create_time is not None and uploaded.expiration_time is not None
    assert uploaded.expiration_time > uploaded.create_time


def test_upload_empty_file_returns_zero_size_file(client: genai.Client) -> None:
    uploaded = client.files.upload(file=io.BytesIO(b""), config={"mime_type": "text/plain"})
    assert_uploaded(uploaded, b"", "text/plain")
    assert client.files.get(name=uploaded.name).size_bytes == 0


def test_upload_20mb_file_in_three_chunks_keeps_size_and_hash(
    live_server: LiveServer, api_key: str, twenty_mb: bytes
) -> None:
    chunks: list[tuple[str, int, int]] = []

    def record(request: Any) -> None:
        if "upload_id=" in str(request.url):
            headers = request.headers
            chunks.append(
                (headers["x-goog-upload-command"], int(headers["x-goog-upload-offset"]), len(request.content))
            )

    options = {"base_url": live_server.url, "client_args": {"event_hooks": {"request": [record]}}}
    with genai.Client(api_key=api_key, http_options=options) as client:
        uploaded = client.files.upload(file=io.BytesIO(twenty_mb), config={"mime_type": "application/pdf"})
        fetched = client.files.get(name=uploaded.name)

    assert chunks == [
        ("upload", 0, 8 * MiB),
        ("upload", 8 * MiB, 8 * MiB),
        ("upload, finalize", 16 * MiB, TWENTY_MB - 16 * MiB),
    ]
    assert_uploaded(uploaded, twenty_mb, "application/pdf")
    assert fetched.size_bytes == TWENTY_MB
    assert fetched.sha256_hash == sha256_hash_field(twenty_mb)


def test_upload_bytesio_keeps_binary_bytes(client: genai.Client) -> None:
    data = tiny_png()
    uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "image/png"})
    assert_uploaded(uploaded, data, "image/png")


def test_upload_file_from_path_guesses_mime_type(client: genai.Client, tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    data = b"# Notes\n\n- one\n- two\n"
    path.write_bytes(data)
    uploaded = client.files.upload(file=path)
    assert_uploaded(uploaded, data, "text/markdown")
    uploaded_by_str = client.files.upload(file=str(path))
    assert_uploaded(uploaded_by_str, data, "text/markdown")
    assert uploaded_by_str.name != uploaded.name


def test_upload_non_ascii_display_name_round_trips_exactly(client: genai.Client) -> None:
    uploaded = client.files.upload(
        file=io.BytesIO(b"unicode"), config={"mime_type": "text/plain", "display_name": NON_ASCII_NAME}
    )
    assert uploaded.display_name == NON_ASCII_NAME
    assert client.files.get(name=uploaded.name).display_name == NON_ASCII_NAME
    assert [f.display_name for f in client.files.list()] == [NON_ASCII_NAME]


def test_upload_custom_name_is_kept(client: genai.Client) -> None:
    uploaded = client.files.upload(
        file=io.BytesIO(b"custom"), config={"mime_type": "text/plain", "name": "files/my-custom-1"}
    )
    assert uploaded.name == "files/my-custom-1"
    assert client.files.get(name="files/my-custom-1").sha256_hash == sha256_hash_field(b"custom")
    assert client.files.get(name="my-custom-1").name == "files/my-custom-1"


def test_upload_duplicate_custom_name_is_conflict(client: genai.Client) -> None:
    first = client.files.upload(
        file=io.BytesIO(b"first"), config={"mime_type": "text/plain", "name": "dup-name"}
    )
    with pytest.raises(errors.ClientError) as caught:
        client.files.upload(
            file=io.BytesIO(b"second"), config={"mime_type": "text/plain", "name": "dup-name"}
        )
    assert caught.value.code == 409
    assert caught.value.status == "ALREADY_EXISTS"
    # The first file is untouched.
    assert client.files.get(name=first.name).sha256_hash == sha256_hash_field(b"first")


def test_get_returns_the_uploaded_file(client: genai.Client) -> None:
    uploaded = client.files.upload(
        file=io.BytesIO(b"get me"), config={"mime_type": "text/csv", "display_name": "get"}
    )
    fetched = client.files.get(name=uploaded.name)
    assert fetched == uploaded


def test_list_page_size_2_yields_each_file_once_newest_first(
    client: genai.Client, http: httpx.Client
) -> None:
    names = [
        client.files.upload(file=io.BytesIO(f"file {i}".encode()), config={"mime_type": "text/plain"}).name
        for i in range(5)
    ]
    newest_first = names[::-1]

    pager = client.files.list(config={"page_size": 2})
    assert [f.name for f in pager] == newest_first

    pager = client.files.list(config={"page_size": 2})
    sdk_pages = [[f.name for f in pager.page]]
    while True:
        try:
            sdk_pages.append([f.name for f in pager.next_page()])
        except IndexError:  # the SDK's end-of-list signal
            break
    assert sdk_pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]

    raw_pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"pageSize": 2}
    while True:
        response = http.get("/v1/files", params=params)
        assert response.status_code == 200
        raw_pages.append(response.json())
        token = raw_pages[-1].get("nextPageToken")
        if not token:
            break
        params["pageToken"] = token
    assert [len(page["files"]) for page in raw_pages] == [2, 2, 1]
    assert [f["name"] for page in raw_pages for f in page["files"]] == newest_first


def test_delete_then_get_is_permission_denied(client: genai.Client) -> None:
    uploaded = client.files.upload(file=io.BytesIO(b"short-lived"), config={"mime_type": "text/plain"})
    client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as caught:
        client.files.get(name=uploaded.name)
    assert caught.value.code == 403
    assert caught.value.status == "PERMISSION_DENIED"
    assert caught.value.message == permission_denied_message(uploaded.name)
    assert list(client.files.list()) == []
    with pytest.raises(errors.ClientError) as again:
        client.files.delete(name=uploaded.name)
    assert again.value.code == 403


def test_upload_unsupported_mime_type_raises_400(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.files.upload(file=io.BytesIO(b"mystery"), config={"mime_type": UNSUPPORTED_MIME})
    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message == f"Unsupported MIME type: {UNSUPPORTED_MIME}"
    assert list(client.files.list()) == []


def test_second_key_cannot_get_list_or_delete_files(
    client: genai.Client, live_server: LiveServer, other_api_key: str
) -> None:
    mine = client.files.upload(file=io.BytesIO(b"private"), config={"mime_type": "text/plain"})
    with genai.Client(api_key=other_api_key, http_options={"base_url": live_server.url}) as other:
        with pytest.raises(errors.ClientError) as on_get:
            other.files.get(name=mine.name)
        assert on_get.value.code == 403
        assert on_get.value.message == permission_denied_message(mine.name)
        assert [f.name for f in other.files.list()] == []
        with pytest.raises(errors.ClientError) as on_delete:
            other.files.delete(name=mine.name)
        assert on_delete.value.code == 403
    assert client.files.get(name=mine.name).sha256_hash == sha256_hash_field(b"private")
