"""Uploads that name no MIME type (the Go SDK's ``Files.Upload(ctx, reader, nil)``: an empty
X-Goog-Upload-Header-Content-Type, no size, ``{"file": {}}``) are stored, typed from their bytes; JSON
Lines types are accepted; ``files:register`` checks the key before answering 501."""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.model_samples import pdf, png
from tests.protocol.uploading import assert_error, key_headers, new_upload, upload_all

MODEL = "gemini-2.5-flash"


def go_sdk_upload(client: httpx.Client, key: str, data: bytes, mime_type: str = "") -> dict:
    url = new_upload(client, key, None, mime_type=mime_type, body={"file": {}})
    reply = upload_all(client, url, data, 1 << 20)
    assert reply.status_code == 200, reply.text
    return reply.json()["file"]


@pytest.mark.parametrize(
    ("data", "mime_type"),
    [(png(), "image/png"), (pdf(["one page"]), "application/pdf")],
    ids=["png", "pdf"],
)
def test_an_upload_without_a_type_takes_the_type_of_its_bytes(
    client: httpx.Client, api_key: str, data: bytes, mime_type: str
) -> None:
    file = go_sdk_upload(client, api_key, data)
    assert file["mimeType"] == mime_type and file["state"] == "ACTIVE"
    assert file["sizeBytes"] == str(len(data))
    explicit = go_sdk_upload(client, api_key, data, "application/octet-stream")
    assert explicit["mimeType"] == mime_type


def test_unrecognised_bytes_are_stored_as_octet_stream_but_no_model_call_takes_them(
    client: httpx.Client, api_key: str
) -> None:
    file = go_sdk_upload(client, api_key, bytes(range(256)) * 10)
    assert file["mimeType"] == "application/octet-stream" and file["state"] == "ACTIVE"
    got = client.get(f"/v1beta/{file['name']}", headers=key_headers(api_key)).json()
    assert got == file
    body = {"contents": [{"parts": [{"text": "x"}, {"fileData": {"fileUri": file["uri"]}}]}]}
    reply = client.post(f"/v1beta/models/{MODEL}:generateContent", headers=key_headers(api_key), json=body)
    assert_error(reply, 400, "INVALID_ARGUMENT", "Unsupported MIME type: application/octet-stream")
    empty = go_sdk_upload(client, api_key, b"")
    assert empty["mimeType"] == "application/octet-stream" and empty["sizeBytes"] == "0"


@pytest.mark.parametrize("mime_type", ["jsonl", "application/jsonl", "application/x-ndjson"])
def test_json_lines_types_are_accepted_and_read_as_text(
    client: httpx.Client, api_key: str, mime_type: str
) -> None:
    data = b'{"key": "a", "request": {}}\n{"key": "b", "request": {}}\n'
    file = go_sdk_upload(client, api_key, data, mime_type)
    assert file["mimeType"] == mime_type and file["state"] == "ACTIVE"
    body = {"contents": [{"parts": [{"text": "x"}, {"fileData": {"fileUri": file["uri"]}}]}]}
    reply = client.post(f"/v1beta/models/{MODEL}:generateContent", headers=key_headers(api_key), json=body)
    assert reply.status_code == 200, reply.text
    assert "  Lines: 2" in reply.json()["candidates"][0]["content"]["parts"][0]["text"].splitlines()


def test_files_register_refuses_an_anonymous_call_before_saying_it_is_unimplemented(
    client: httpx.Client, api_key: str
) -> None:
    anonymous = client.post("/v1beta/files:register", json={"uris": ["gs://b/o"]})
    assert anonymous.status_code == client.get("/v1beta/files").status_code == 403
    keyed = client.post("/v1beta/files:register", headers=key_headers(api_key), json={"uris": ["gs://b/o"]})
    assert_error(keyed, 501, "UNIMPLEMENTED")
