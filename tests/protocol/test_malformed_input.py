"""Malformed and hostile input: each is refused in Google's envelope, never a 500, never losing data."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from tests.protocol.uploading import (
    START_PATH,
    UNREGISTERED,
    assert_error,
    get_file,
    list_names,
    new_upload,
    send,
    sha256_hash,
    start_upload,
    upload_file,
)
from tests.support import ROOT, LiveServer


# the upload URL's headers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "offset", ["-1", "abc", "1.5", "0x10", "", "+4", "99999999999999999999", "9223372036854775807"]
)
def test_upload_chunk_with_bad_offset_is_refused_and_data_kept(
    client: httpx.Client, api_key: str, offset: str
) -> None:
    data = b"0123456789"
    url = new_upload(client, api_key, len(data))
    send(client, url, "upload", data[:4], 0)
    reply = send(client, url, "upload", data[4:], headers={"X-Goog-Upload-Offset": offset})
    assert_error(reply, 400, "INVALID_ARGUMENT")
    assert reply.headers["x-goog-upload-status"] == "active"
    assert reply.headers["x-goog-upload-size-received"] == "4"
    final = send(client, url, "upload, finalize", data[4:], 4)
    assert final.json()["file"]["sha256Hash"] == sha256_hash(data)


def test_upload_chunk_without_offset_is_refused(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 3)
    reply = send(client, url, "upload", b"abc")
    assert_error(reply, 400, "INVALID_ARGUMENT", "X-Goog-Upload-Offset")
    assert reply.headers["x-goog-upload-status"] == "active"
    assert send(client, url, "upload, finalize", b"abc", 0).status_code == 200


@pytest.mark.parametrize(
    "command", ["bogus", "upload, bogus", "start", "query, cancel", "upload, cancel", ",", ""]
)
def test_upload_url_with_unknown_command_is_refused_and_session_kept(
    client: httpx.Client, api_key: str, command: str
) -> None:
    url = new_upload(client, api_key, 4)
    send(client, url, "upload", b"ab", 0)
    reply = send(client, url, command, b"cd", 2)
    assert_error(reply, 400, "INVALID_ARGUMENT")
    assert reply.headers["x-goog-upload-status"] == "active"
    assert reply.headers["x-goog-upload-size-received"] == "2"
    final = send(client, url, "upload, finalize", b"cd", 2)
    assert final.json()["file"]["sha256Hash"] == sha256_hash(b"abcd")


def test_upload_url_without_command_header_is_refused(client: httpx.Client, api_key: str) -> None:
    url = new_upload(client, api_key, 4)
    reply = client.post(url, content=b"abcd", headers={"X-Goog-Upload-Offset": "0"})
    assert_error(reply, 400, "INVALID_ARGUMENT")
    assert reply.headers["x-goog-upload-status"] == "active"


def test_upload_chunk_shorter_than_content_length_is_not_committed(
    client: httpx.Client, live_server: LiveServer, api_key: str
) -> None:
    """A client that dies mid-body: the server never counts the bytes of an incomplete chunk."""
    url = httpx.URL(new_upload(client, api_key, 8))
    head = (
        f"POST {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        "X-Goog-Upload-Command: upload, finalize\r\nX-Goog-Upload-Offset: 0\r\nContent-Length: 8\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port), timeout=5) as raw:
        raw.sendall(head.encode() + b"abcd")
        time.sleep(0.2)
    assert send(client, url, "query").headers["x-goog-upload-size-received"] == "0"
    assert list_names(client, api_key) == []
    final = send(client, url, "upload, finalize", b"abcdefgh", 0)
    assert final.json()["file"]["sha256Hash"] == sha256_hash(b"abcdefgh")


# the start request ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", ["-5", "ten", "1e3", "", "99999999999999999999"])
def test_start_upload_with_bad_declared_length_is_refused(
    client: httpx.Client, api_key: str, length: str
) -> None:
    reply = start_upload(client, api_key, headers={"X-Goog-Upload-Header-Content-Length": length})
    assert_error(reply, 400, "INVALID_ARGUMENT")
    assert "x-goog-upload-url" not in reply.headers


@pytest.mark.parametrize(
    "size", [-1, "-1", 1.5, "1.5", True, "eleven", [11], {"v": 11}, "0x0b", 2**70, str(2**70)]
)
def test_start_upload_with_bad_size_bytes_is_refused(
    client: httpx.Client, api_key: str, size: object
) -> None:
    reply = start_upload(client, api_key, size=None, body={"file": {"sizeBytes": size}})
    assert_error(reply, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("size", [11, "11"])
@pytest.mark.parametrize("field", ["sizeBytes", "size_bytes"])
def test_start_upload_size_as_number_or_string_is_accepted(
    client: httpx.Client, api_key: str, field: str, size: object
) -> None:
    url = new_upload(client, api_key, None, body={"file": {field: size, "mime_type": "text/plain"}})
    short = send(client, url, "upload, finalize", b"0123456789", 0)
    assert_error(short, 400, "INVALID_ARGUMENT", "declared 11")
    final = send(client, url, "upload, finalize", b"X", 10)
    assert final.json()["file"]["sizeBytes"] == "11"


def test_start_upload_size_bytes_disagreeing_with_header_is_refused(
    client: httpx.Client, api_key: str
) -> None:
    reply = start_upload(client, api_key, size=10, body={"file": {"sizeBytes": "11"}})
    assert_error(reply, 400, "INVALID_ARGUMENT", "does not match")
    assert start_upload(client, api_key, size=11, body={"file": {"sizeBytes": "11"}}).status_code == 200


def test_start_upload_declared_over_max_file_size_is_refused(client: httpx.Client, api_key: str) -> None:
    reply = start_upload(client, api_key, size=2147483649)
    assert_error(reply, 400, "INVALID_ARGUMENT", "maximum file size")


@pytest.mark.parametrize(
    "name",
    [
        "files/UPPER",
        "files/-x",
        "files/x-",
        "files/" + "a" * 41,
        "files/../../etc",
        "files/a/b",
        "files/",
        "files/a_b",
        "files/ab c",
        "files/\u00e9t\u00e9",
        "other/abc",
    ],
)
def test_start_upload_invalid_custom_name_is_refused(client: httpx.Client, api_key: str, name: str) -> None:
    reply = start_upload(client, api_key, size=1, body={"file": {"name": name}})
    assert_error(reply, 400, "INVALID_ARGUMENT")
    assert list_names(client, api_key) == []


def test_start_upload_custom_name_forty_chars_is_accepted(client: httpx.Client, api_key: str) -> None:
    name = "files/" + "a1-" * 13 + "z"
    file = upload_file(client, api_key, b"ok", body={"file": {"name": name}})
    assert file["name"] == name
    assert get_file(client, api_key, name).json() == file


def test_start_upload_existing_custom_name_is_refused(client: httpx.Client, api_key: str) -> None:
    file = upload_file(client, api_key, b"first", body={"file": {"name": "files/taken"}})
    reply = start_upload(client, api_key, size=6, body={"file": {"name": "files/taken"}})
    assert_error(reply, 409, "ALREADY_EXISTS")
    assert get_file(client, api_key, "files/taken").json() == file


def test_start_upload_huge_json_body_is_refused(client: httpx.Client, api_key: str) -> None:
    body = json.dumps({"file": {"displayName": "x" * (1024 * 1024 + 10)}}).encode()
    reply = start_upload(client, api_key, size=1, content=body)
    assert_error(reply, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    "content",
    [
        b'{"file": ',
        b"{file: {display_name: }}",
        b"\xff\xfe\x00garbage",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"file": {"displayName": "a"}} trailing',
        b"NaN",
    ],
)
def test_start_upload_broken_json_is_refused(client: httpx.Client, api_key: str, content: bytes) -> None:
    assert_error(start_upload(client, api_key, size=1, content=content), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    "content",
    [
        b"[1, 2]",
        b'"file"',
        b"42",
        b"true",
        b'{"file": "x"}',
        b'{"file": [1]}',
        b'{"file": {"displayName": 5}}',
        b'{"file": {"mimeType": {"a": 1}}}',
        b'{"file": {"name": null, "displayName": ["x"]}}',
    ],
)
def test_start_upload_json_of_wrong_shape_is_refused(
    client: httpx.Client, api_key: str, content: bytes
) -> None:
    assert_error(start_upload(client, api_key, size=1, content=content), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    "body",
    [{"file": {"bogus": 1}}, {"file": {}, "extra": True}, {"file": {"display_name": "a", "sizeByte": 1}}],
)
def test_start_upload_unknown_field_is_refused(client: httpx.Client, api_key: str, body: dict) -> None:
    reply = start_upload(client, api_key, size=1, body=body)
    assert_error(reply, 400, "INVALID_ARGUMENT", "Unknown name")


@pytest.mark.parametrize("content", [b"", b"{}", b'{"file": {}}', b"null"])
def test_start_upload_empty_metadata_is_accepted(client: httpx.Client, api_key: str, content: bytes) -> None:
    url = new_upload(client, api_key, 2, content=content)
    file = send(client, url, "upload, finalize", b"hi", 0).json()["file"]
    assert file["mimeType"] == "text/plain"
    assert "displayName" not in file


def test_start_upload_single_quoted_json_from_google_docs_is_accepted(
    client: httpx.Client, api_key: str
) -> None:
    # Google's curl sample: -d "{'file': {'display_name': '${DISPLAY_NAME}'}}"
    url = new_upload(
        client, api_key, 5, mime_type="audio/mpeg", content=b"{'file': {'display_name': 'AUDIO'}}"
    )
    reply = send(client, url, "upload, finalize", b"\xff\xfb\x90\x00\x00", 0)
    assert reply.status_code == 200, reply.text
    assert reply.json()["file"]["displayName"] == "AUDIO"


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"{'file': {'display_name': 'AUDIO'}}" + b" " * 1_000_000, 200),
        (b"{'file': {'display_name': '" + b"x" * 1_000_000 + b"'}}", 400),  # over 512 characters
        (b"{file: {display_name: '" + b"x" * 1_000_000 + b"'}}", 400),
        (("{" + ",".join(f"'k{i}': {i}" for i in range(70_000)) + "}").encode(), 400),
    ],
)
def test_start_upload_large_lenient_json_is_parsed_without_stalling(
    client: httpx.Client, api_key: str, content: bytes, status: int
) -> None:
    """Lenient JSON near the 1 MiB limit is answered at once (a pure-Python JSON5 parse took 10-20 s)."""
    began = time.monotonic()
    reply = start_upload(client, api_key, size=1, content=content)
    assert time.monotonic() - began < 5
    assert reply.status_code == status, reply.text


def test_start_upload_camel_and_snake_case_keys_are_accepted(client: httpx.Client, api_key: str) -> None:
    snake = upload_file(
        client,
        api_key,
        b"s",
        mime_type=None,
        body={"file": {"display_name": "\u00e9 \U0001f600", "mime_type": "text/csv"}},
    )
    camel = upload_file(
        client, api_key, b"c", mime_type=None, body={"file": {"displayName": "c", "mimeType": "text/csv"}}
    )
    assert (snake["displayName"], snake["mimeType"]) == ("\u00e9 \U0001f600", "text/csv")
    assert (camel["displayName"], camel["mimeType"]) == ("c", "text/csv")


def test_start_upload_display_name_over_512_chars_is_refused(client: httpx.Client, api_key: str) -> None:
    reply = start_upload(client, api_key, size=1, body={"file": {"displayName": "\u00e9" * 513}})
    assert_error(reply, 400, "INVALID_ARGUMENT", "displayName")
    file = upload_file(client, api_key, b"x", body={"file": {"displayName": "\u00e9" * 512}})
    assert file["displayName"] == "\u00e9" * 512


@pytest.mark.parametrize("mime_type", [b"x" * 300, b"", b"text/plain\xe9", b"\xff\xfe"])
def test_start_upload_bad_mime_type_header_is_refused_or_fails_at_finalize(
    client: httpx.Client, api_key: str, mime_type: bytes
) -> None:
    reply = start_upload(
        client, api_key, size=1, mime_type=None, headers={"X-Goog-Upload-Header-Content-Type": mime_type}
    )  # type: ignore[dict-item]
    if reply.status_code == 200:
        final = send(client, reply.headers["x-goog-upload-url"], "upload, finalize", b"x", 0)
        assert final.status_code in (200, 400), final.text
        assert final.headers["x-goog-upload-status"] == "final"
    else:
        assert_error(reply, 400, "INVALID_ARGUMENT")


def test_start_upload_with_unknown_command_is_refused(client: httpx.Client, api_key: str) -> None:
    for command in ("bogus", "upload", "start, upload", ""):
        reply = start_upload(client, api_key, size=1, headers={"X-Goog-Upload-Command": command})
        assert_error(reply, 400, "INVALID_ARGUMENT")
        assert "x-goog-upload-url" not in reply.headers


def test_upload_with_unknown_protocol_is_refused(client: httpx.Client, api_key: str) -> None:
    reply = client.post(
        START_PATH,
        content=b"x",
        headers={"x-goog-api-key": api_key, "X-Goog-Upload-Protocol": "carrier-pigeon"},
    )
    assert_error(reply, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha", ""])
def test_start_upload_under_every_api_version_keeps_it_in_the_upload_url(
    client: httpx.Client, api_key: str, version: str
) -> None:
    path = f"/upload/{version}/files" if version else "/upload/files"
    reply = client.post(
        path,
        content=b"{}",
        headers={
            "x-goog-api-key": api_key,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "1",
        },
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-goog-upload-url"].split("?")[0].endswith(path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/files"),
        ("GET", "/v1beta1/files"),
        ("GET", "/v1beta/v1/files"),
        ("POST", "/upload/v3/files"),
    ],
)
def test_unknown_api_version_gets_googles_404_envelope(
    client: httpx.Client, api_key: str, method: str, path: str
) -> None:
    reply = client.request(method, path, headers={"x-goog-api-key": api_key})
    assert_error(reply, 404, "NOT_FOUND", f"The requested URL {path} was not found on this server.")


# keys -------------------------------------------------------------------------------------------------------
def test_request_without_key_is_denied_as_google_does(client: httpx.Client) -> None:
    for reply in (
        start_upload(client, None, size=1),
        client.get("/v1beta/files"),
        client.get("/v1beta/files/abc"),
        client.delete("/v1beta/files/abc"),
        client.get("/v1beta/files?key="),
        client.get("/v1beta/files?key=%20%20"),
    ):
        error = assert_error(reply, 403, "PERMISSION_DENIED")
        assert error["message"] == UNREGISTERED


def test_request_with_key_query_parameter_is_accepted(client: httpx.Client, api_key: str) -> None:
    file = upload_file(client, api_key, b"q")
    reply = client.get(f"/v1beta/{file['name']}", params={"key": api_key})
    assert reply.status_code == 200 and reply.json() == file


def test_request_with_unknown_key_in_keys_mode_is_invalid(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(GEMFILES_AUTH="keys")
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "gemfiles",
            "keys",
            "create",
            "--project",
            "team",
            "--data-dir",
            str(server.data_dir),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **server.env},  # the server's own metadata store, whichever backend it is
        check=True,
        timeout=60,
    )
    key = next(word for word in created.stdout.split() if word.startswith("gf-"))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for reply in (
            http.get("/v1beta/files", headers={"x-goog-api-key": "not-a-key"}),
            start_upload(http, "not-a-key", size=1),
        ):
            error = assert_error(
                reply, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."
            )
            info = next(
                d for d in error["details"] if d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
            )
            assert info["reason"] == "API_KEY_INVALID"
            assert info["domain"] == "googleapis.com"
        assert_error(http.get("/v1beta/files"), 403, "PERMISSION_DENIED")
        file = upload_file(http, key, b"team data")
        # The JS SDK sends its key on chunks too; an unknown key there does not unlock someone else's session.
        url = new_upload(http, key, 1)
        assert send(http, url, "upload, finalize", b"x", 0, key="not-a-key").status_code == 200
        assert len(list_names(http, key)) == 2
        assert get_file(http, key, file["name"]).json()["sha256Hash"] == sha256_hash(b"team data")


# files.get / delete / list ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw_path",
    [
        b"/v1beta/files/%2e%2e",
        b"/v1beta/files/..%2Fx",
        b"/v1beta/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        b"/v1beta/files/../x",
        b"/v1beta/files/..",
        b"/v1beta/files/UPPER",
        b"/v1beta/files/%00",
        b"/v1beta/files/" + b"a" * 5000,
        b"/v1beta/files/abc:bogus",
    ],
)
def test_get_and_delete_path_like_id_are_refused(client: httpx.Client, api_key: str, raw_path: bytes) -> None:
    file = upload_file(client, api_key, b"keep me")
    for method in ("GET", "DELETE"):
        request = client.build_request(method, "/", headers={"x-goog-api-key": api_key})
        request.url = request.url.copy_with(raw_path=raw_path)
        reply = client.send(request)
        assert reply.status_code in (400, 403, 404), (method, raw_path, reply.status_code, reply.text)
        assert reply.json()["error"]["code"] == reply.status_code
    assert get_file(client, api_key, file["name"]).json() == file


def test_get_file_of_other_project_is_denied(
    client: httpx.Client, api_key: str, new_key: Callable[[], str]
) -> None:
    file = upload_file(client, api_key, b"mine")
    other = new_key()
    file_id = file["name"].removeprefix("files/")
    assert_error(
        get_file(client, other, file["name"]),
        403,
        "PERMISSION_DENIED",
        f"You do not have permission to access the File {file_id} or it may not exist.",
    )
    assert_error(
        client.delete(f"/v1beta/{file['name']}", headers={"x-goog-api-key": other}), 403, "PERMISSION_DENIED"
    )
    assert get_file(client, api_key, file["name"]).json() == file


def _token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!",
        "a" * 10_000,
        "%00",
        _token(["g1", 10**30, "abc"]),
        _token(["g1", -(10**30), "abc"]),
        _token(["g1", True, "abc"]),
        _token(["g1", 1.5, "abc"]),
        _token(["g1", 1, "../x"]),
        _token(["g1", 1, 7]),
        _token(["g0", 1, "abc"]),
        _token(["g1", 1]),
        _token({"a": 1, "b": 2, "c": 3}),
        _token("g1"),
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    ],
)
def test_list_files_invalid_page_token_is_refused(client: httpx.Client, api_key: str, token: str) -> None:
    reply = client.get("/v1beta/files", params={"pageToken": token}, headers={"x-goog-api-key": api_key})
    assert_error(reply, 400, "INVALID_ARGUMENT", "page token")


@pytest.mark.parametrize("size", ["-1", "abc", "1.5", "-0x1", "+5", "\u0661", "1e3", "--1"])
def test_list_files_bad_page_size_is_refused(client: httpx.Client, api_key: str, size: str) -> None:
    reply = client.get("/v1beta/files", params={"pageSize": size}, headers={"x-goog-api-key": api_key})
    assert_error(reply, 400, "INVALID_ARGUMENT", "pageSize")


@pytest.mark.parametrize("size", ["101", "2147483648", "99999999999999999999", "9" * 5000])
def test_list_files_huge_page_size_is_clamped(client: httpx.Client, api_key: str, size: str) -> None:
    upload_file(client, api_key, b"one")
    reply = client.get("/v1beta/files", params={"pageSize": size}, headers={"x-goog-api-key": api_key})
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["files"]) == 1


def test_list_files_page_size_zero_or_empty_uses_default(client: httpx.Client, api_key: str) -> None:
    for _ in range(11):
        upload_file(client, api_key, b"f")
    for size in ("0", ""):
        reply = client.get("/v1beta/files", params={"pageSize": size}, headers={"x-goog-api-key": api_key})
        assert reply.status_code == 200
        assert len(reply.json()["files"]) == 10
        assert reply.json()["nextPageToken"]


# multipart --------------------------------------------------------------------------------------------------
def test_upload_multipart_related_as_legacy_js_sdk_sends_it(client: httpx.Client, api_key: str) -> None:
    data = bytes(range(256)) * 41
    boundary = "4c3a1b2d9e8f7a6b"
    metadata = json.dumps(
        {"file": {"mimeType": "application/pdf", "displayName": "legacy js", "name": "files/legacyjs"}}
    )
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json; charset=utf-8\r\n\r\n{metadata}\r\n"
            f"--{boundary}\r\nContent-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--".encode()
    )
    reply = client.post(
        START_PATH,
        content=body,
        headers={
            "x-goog-api-key": api_key,
            "X-Goog-Upload-Protocol": "multipart",
            "Content-Type": f"multipart/related; boundary={boundary}",
        },
    )
    assert reply.status_code == 200, reply.text
    file = reply.json()["file"]
    assert (file["name"], file["displayName"], file["mimeType"]) == (
        "files/legacyjs",
        "legacy js",
        "application/pdf",
    )
    assert file["sizeBytes"] == str(len(data))
    assert file["sha256Hash"] == sha256_hash(data)
    assert get_file(client, api_key, "files/legacyjs").json() == file


def test_upload_multipart_form_data_is_accepted(client: httpx.Client, api_key: str) -> None:
    data = b"\r\n--not-a-boundary\r\n" * 500
    reply = client.post(
        START_PATH,
        files={
            "metadata": (None, json.dumps({"file": {"display_name": "form"}}), "application/json"),
            "file": ("notes.txt", data, "text/plain"),
        },
        headers={"x-goog-api-key": api_key, "X-Goog-Upload-Protocol": "multipart"},
    )
    assert reply.status_code == 200, reply.text
    file = reply.json()["file"]
    assert (file["displayName"], file["mimeType"]) == ("form", "text/plain")
    assert file["sha256Hash"] == sha256_hash(data)
    assert get_file(client, api_key, file["name"]).json()["sha256Hash"] == sha256_hash(data)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/related", b"--x\r\n\r\nabc\r\n--x--"),
        ("multipart/related; boundary=x", b""),
        (
            "multipart/related; boundary=x",
            b'--x\r\nContent-Type: application/json\r\n\r\n{"file": {}}\r\n--x--',
        ),
        (
            "multipart/related; boundary=x",
            b"--x\r\nContent-Type: application/json\r\n\r\n{broken\r\n--x\r\n"
            b"Content-Type: text/plain\r\n\r\nabc\r\n--x--",
        ),
        ("multipart/related; boundary=x", b"--x\r\nContent-Type: text/plain\r\n\r\nabc"),
        ("multipart/related; boundary=x", b"garbage without any boundary"),
    ],
)
def test_upload_malformed_multipart_is_refused(
    client: httpx.Client, api_key: str, content_type: str, body: bytes
) -> None:
    reply = client.post(
        START_PATH,
        content=body,
        headers={
            "x-goog-api-key": api_key,
            "X-Goog-Upload-Protocol": "multipart",
            "Content-Type": content_type,
        },
    )
    assert_error(reply, 400, "INVALID_ARGUMENT")
    assert list_names(client, api_key) == []
