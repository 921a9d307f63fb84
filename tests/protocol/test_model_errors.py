"""Model calls that must fail: Google's status and message for each, never a 500.

Files are uploaded with the Python SDK; the failing calls go over raw HTTP so the envelope itself is
checked, and through the SDKs where a user would see the error (``errors.ClientError`` for models,
``compat_errors`` for interactions).
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors
from google.genai._gaos.lib import compat_errors
from starlette.testclient import TestClient

from gemfiles.app import create_app
from gemfiles.backends.inspect import InspectBackend
from gemfiles.domain.calls import ModelRequest, OutputEvent, TextDelta, Usage
from gemfiles.domain.routing import ModelRouter
from gemfiles.errors import DeadlineExceeded, Unavailable
from gemfiles.settings import Settings
from tests.conformance.model_samples import mp4
from tests.support import LiveServer

MODEL = "gemini-2.5-flash"
MiB = 1024 * 1024
FILES_API_HINT = (
    "Upload large files with the Files API and refer to them by uri instead "
    "(https://ai.google.dev/gemini-api/docs/files)."
)


def new_key() -> str:
    return f"test-{uuid.uuid4().hex}"


def sdk(server: LiveServer, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options={"base_url": server.url})


def upload(server: LiveServer, key: str, data: bytes, mime_type: str) -> dict[str, Any]:
    with sdk(server, key) as client:
        file = client.files.upload(file=io.BytesIO(data), config={"mime_type": mime_type})
    return {"name": file.name, "uri": file.uri, "mimeType": file.mime_type, "state": file.state}


def wait_state(server: LiveServer, key: str, name: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        with sdk(server, key) as client:
            state = client.files.get(name=name).state
        assert state is not None
        if state.name != "PROCESSING" or time.monotonic() > deadline:
            return state.name
        time.sleep(0.05)


def file_body(uri: str, mime_type: str = "text/plain") -> dict[str, Any]:
    # The Python SDK's own spelling: camelCase outside, snake_case inside fileData (WIRE.md 10.1).
    return {
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "Describe"}, {"fileData": {"file_uri": uri, "mime_type": mime_type}}],
            }
        ]
    }


def interaction_body(uri: str, kind: str = "document", mime_type: str = "text/plain") -> dict[str, Any]:
    return {
        "model": MODEL,
        "input": [{"type": "text", "text": "Describe"}, {"type": kind, "uri": uri, "mime_type": mime_type}],
    }


def model_calls(http: httpx.Client, key: str, body: dict[str, Any]) -> Iterator[httpx.Response]:
    """The same request to every endpoint that resolves files."""
    headers = {"x-goog-api-key": key}
    yield http.post(f"/v1beta/models/{MODEL}:generateContent", json=body, headers=headers)
    yield http.post(f"/v1/models/{MODEL}:streamGenerateContent?alt=sse", json=body, headers=headers)
    yield http.post(f"/v1beta/models/{MODEL}:countTokens", json=body, headers=headers)


def assert_error(reply: httpx.Response, code: int, status: str, message: str) -> None:
    assert reply.status_code == code, (reply.status_code, reply.text)
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {"error": {"code": code, "message": message, "status": status}}


def not_accessible(name: str) -> str:
    return f"You do not have permission to access the File {name.removeprefix('files/')} or it may not exist."


def not_active(name: str) -> str:
    return f"The File {name.removeprefix('files/')} is not in an ACTIVE state and usage is not allowed."


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        yield client


# Whose file, and is it still there ----------------------------------------------------------------------


def test_file_of_another_project_is_permission_denied_everywhere(
    live_server: LiveServer, http: httpx.Client
) -> None:
    owner, stranger = new_key(), new_key()
    file = upload(live_server, owner, b"secret\n", "text/plain")
    for reply in model_calls(http, stranger, file_body(file["uri"])):
        assert_error(reply, 403, "PERMISSION_DENIED", not_accessible(file["name"]))
    reply = http.post(
        "/v1beta/interactions", json=interaction_body(file["uri"]), headers={"x-goog-api-key": stranger}
    )
    assert_error(reply, 403, "PERMISSION_DENIED", not_accessible(file["name"]))

    with sdk(live_server, stranger) as client:
        with pytest.raises(errors.ClientError) as caught:
            client.models.generate_content(
                model=MODEL,
                contents=[genai.types.Part.from_uri(file_uri=file["uri"], mime_type="text/plain")],
            )
        assert caught.value.code == 403 and caught.value.status == "PERMISSION_DENIED"
        with pytest.raises(compat_errors.PermissionDeniedError):
            client.interactions.create(**interaction_body(file["uri"]))
    # The owner may use it, by uri or by name.
    for reply in model_calls(http, owner, file_body(file["name"])):
        assert reply.status_code == 200, reply.text


def test_deleted_file_is_permission_denied(live_server: LiveServer, http: httpx.Client) -> None:
    key = new_key()
    file = upload(live_server, key, b"gone soon\n", "text/plain")
    with sdk(live_server, key) as client:
        client.files.delete(name=file["name"])
    for reply in model_calls(http, key, file_body(file["uri"])):
        assert_error(reply, 403, "PERMISSION_DENIED", not_accessible(file["name"]))


def test_expired_file_is_permission_denied(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(GEMFILES_EMULATOR_CONTROLS="true")
    key = new_key()
    file = upload(server, key, b"short-lived\n", "text/plain")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert (
            http.post(
                f"/v1beta/models/{MODEL}:generateContent",
                json=file_body(file["uri"]),
                headers={"x-goog-api-key": key},
            ).status_code
            == 200
        )
        assert http.post("/_internal/clock", json={"advance": "49h"}).status_code == 200
        for reply in model_calls(http, key, file_body(file["uri"])):
            assert_error(reply, 403, "PERMISSION_DENIED", not_accessible(file["name"]))
        reply = http.post(
            "/v1beta/interactions", json=interaction_body(file["uri"]), headers={"x-goog-api-key": key}
        )
        assert_error(reply, 403, "PERMISSION_DENIED", not_accessible(file["name"]))


# Is it ready ----------------------------------------------------------------------


def test_processing_file_is_failed_precondition(server_factory: Callable[..., LiveServer]) -> None:
    # Without the background workers nothing probes the video, so it stays PROCESSING (audio is ACTIVE at
    # finalize, as on Google: test_audio_is_usable_at_once_and_undecodable_audio_is_a_400).
    server = server_factory(GEMFILES_RUN_WORKERS="false")
    key = new_key()
    file = upload(server, key, mp4(), "video/mp4")
    assert file["state"] is not None and file["state"].name == "PROCESSING"
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for reply in model_calls(http, key, file_body(file["uri"], "video/mp4")):
            assert_error(reply, 400, "FAILED_PRECONDITION", not_active(file["name"]))
        body = interaction_body(file["uri"], "video", "video/mp4")
        reply = http.post("/v1beta/interactions", json=body, headers={"x-goog-api-key": key})
        assert_error(reply, 400, "FAILED_PRECONDITION", not_active(file["name"]))
    with sdk(server, key) as client, pytest.raises(compat_errors.BadRequestError):
        client.interactions.create(**body)


def test_failed_file_is_failed_precondition(live_server: LiveServer, http: httpx.Client) -> None:
    key = new_key()
    file = upload(live_server, key, b"this is not a video at all" * 100, "video/mp4")
    assert wait_state(live_server, key, file["name"]) == "FAILED"
    for reply in model_calls(http, key, file_body(file["uri"], "video/mp4")):
        assert_error(reply, 400, "FAILED_PRECONDITION", not_active(file["name"]))
    with sdk(live_server, key) as client, pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(
            model=MODEL, contents=[genai.types.Part.from_uri(file_uri=file["uri"], mime_type="video/mp4")]
        )
    assert caught.value.code == 400 and caught.value.status == "FAILED_PRECONDITION"
    assert caught.value.message == not_active(file["name"])


# What was sent ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "not a uri",
        "gs://bucket/object.pdf",
        "https://www.youtube.com/watch?v=9hE5-98ZeCg",
        "https://example.com/v1beta/files/",
        "https://example.com/v1beta/files/UPPER",
        "files/",
        "",
    ],
)
def test_malformed_file_uri_is_invalid_argument(
    live_server: LiveServer, http: httpx.Client, uri: str
) -> None:
    key = new_key()
    for reply in [
        *model_calls(http, key, file_body(uri)),
        http.post("/v1beta/interactions", json=interaction_body(uri), headers={"x-goog-api-key": key}),
    ]:
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["status"] == "INVALID_ARGUMENT"
        assert "uri" in error["message"]


def test_file_uri_with_any_host_or_version_resolves(live_server: LiveServer, http: httpx.Client) -> None:
    key = new_key()
    file = upload(live_server, key, b"anywhere\n", "text/plain")
    file_id = file["name"].removeprefix("files/")
    for uri in (
        file["uri"],
        f"https://generativelanguage.googleapis.com/v1beta/files/{file_id}",
        f"http://gemfiles.internal:9000/prefix/v1/files/{file_id}",
        f"/v1alpha/files/{file_id}",
        f"files/{file_id}",
    ):
        reply = http.post(
            f"/v1beta/models/{MODEL}:generateContent", json=file_body(uri), headers={"x-goog-api-key": key}
        )
        assert reply.status_code == 200, (uri, reply.text)
        assert f"File 1: files/{file_id}" in reply.json()["candidates"][0]["content"]["parts"][0]["text"]


def test_request_over_100_mb_is_refused_with_files_api_advice(
    live_server: LiveServer, http: httpx.Client
) -> None:
    limit = 100 * MiB

    def body() -> Iterator[bytes]:  # streamed: neither side holds 100 MB
        yield b'{"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "'
        block = b"A" * MiB
        for _ in range(101):
            yield block
        yield b'"}}]}]}'

    reply = http.post(
        f"/v1beta/models/{MODEL}:generateContent", content=body(), headers={"x-goog-api-key": new_key()}
    )
    assert_error(
        reply,
        400,
        "INVALID_ARGUMENT",
        f"Request payload size exceeds the limit: {limit} bytes. {FILES_API_HINT}",
    )


def test_inline_pdf_over_50_mb_is_refused_with_files_api_advice(
    live_server: LiveServer, http: httpx.Client
) -> None:
    encoded = base64.b64encode(b"%PDF-1.4\n" + b"\0" * (50 * MiB))
    body = (
        b'{"model": "m", "input": [{"type": "document", "mime_type": "application/pdf", "data": "'
        + encoded
        + b'"}]}'
    )
    reply = http.post(
        "/v1beta/interactions",
        content=body,
        headers={"x-goog-api-key": new_key(), "content-type": "application/json"},
    )
    assert_error(
        reply,
        400,
        "INVALID_ARGUMENT",
        f"Inline PDF data exceeds the limit: {50 * MiB} bytes. {FILES_API_HINT}",
    )


def test_bad_inline_base64_and_missing_contents_are_invalid_argument(
    live_server: LiveServer, http: httpx.Client
) -> None:
    key = {"x-goog-api-key": new_key()}
    bad = {"contents": [{"parts": [{"inline_data": {"mime_type": "image/png", "data": "%%%not base64%%%"}}]}]}
    reply = http.post(f"/v1beta/models/{MODEL}:generateContent", json=bad, headers=key)
    assert reply.status_code == 400 and reply.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "contents[0].parts[0].inline_data.data" in reply.json()["error"]["message"]
    reply = http.post(f"/v1beta/models/{MODEL}:generateContent", json={}, headers=key)
    assert_error(
        reply, 400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"
    )
    reply = http.post(f"/v1beta/models/{MODEL}:generateContent", content=b"{not json", headers=key)
    assert reply.status_code == 400 and reply.json()["error"]["status"] == "INVALID_ARGUMENT"
    reply = http.post("/v1beta/interactions", json={"input": "hi"}, headers=key)
    assert_error(reply, 400, "INVALID_ARGUMENT", "model is required.")
    reply = http.post("/v1beta/interactions", json={"model": MODEL}, headers=key)
    assert_error(reply, 400, "INVALID_ARGUMENT", "input is required.")


def test_calls_without_a_key_are_permission_denied(live_server: LiveServer, http: httpx.Client) -> None:
    for reply in (
        http.post(f"/v1beta/models/{MODEL}:generateContent", json={"contents": [{"parts": [{"text": "x"}]}]}),
        http.post("/v1beta/interactions", json={"model": MODEL, "input": "x"}),
        http.get("/v1beta/models"),
    ):
        assert reply.status_code == 403 and reply.json()["error"]["status"] == "PERMISSION_DENIED"


def test_unknown_interaction_is_not_found(live_server: LiveServer, http: httpx.Client) -> None:
    key = {"x-goog-api-key": new_key()}
    assert http.get("/v1beta/interactions/v1_nope", headers=key).status_code == 404
    assert http.delete("/v1beta/interactions/v1_nope", headers=key).status_code == 404
    reply = http.post(
        "/v1beta/interactions",
        json={"model": MODEL, "input": "x", "previous_interaction_id": "v1_nope"},
        headers=key,
    )
    assert_error(reply, 404, "NOT_FOUND", "Interaction v1_nope was not found.")
    with sdk(live_server, key["x-goog-api-key"]) as client, pytest.raises(compat_errors.NotFoundError):
        client.interactions.get("v1_nope")


def test_interaction_of_another_project_is_not_found(live_server: LiveServer, http: httpx.Client) -> None:
    owner, stranger = {"x-goog-api-key": new_key()}, {"x-goog-api-key": new_key()}
    created = http.post("/v1beta/interactions", json={"model": MODEL, "input": "mine"}, headers=owner).json()
    assert http.get(f"/v1beta/interactions/{created['id']}", headers=stranger).status_code == 404
    assert http.delete(f"/v1beta/interactions/{created['id']}", headers=stranger).status_code == 404
    assert http.get(f"/v1beta/interactions/{created['id']}", headers=owner).status_code == 200


# Routing ----------------------------------------------------------------------


def test_model_outside_the_routing_table_is_not_found(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(GEMFILES_MODELS='{"gemini-*": "inspect"}')
    key = {"x-goog-api-key": new_key()}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        body = {"contents": [{"parts": [{"text": "x"}]}]}
        assert (
            http.post("/v1beta/models/gemini-2.5-pro:generateContent", json=body, headers=key).status_code
            == 200
        )
        reply = http.post("/v1beta/models/gpt-4o:generateContent", json=body, headers=key)
        assert_error(
            reply,
            404,
            "NOT_FOUND",
            "models/gpt-4o is not found for API version v1beta, or is not supported for generateContent. "
            "Call ListModels to see the list of available models and their supported methods.",
        )
        assert http.get("/v1beta/models/gpt-4o", headers=key).status_code == 404
        assert (
            http.post("/v1beta/interactions", json={"model": "gpt-4o", "input": "x"}, headers=key).status_code
            == 404
        )


def test_unknown_backend_in_routing_table_stops_start_up(server_factory: Callable[..., LiveServer]) -> None:
    with pytest.raises(RuntimeError, match="unknown backend 'nonesuch'"):
        server_factory(GEMFILES_MODELS='{"*": "nonesuch"}')
    with pytest.raises(RuntimeError, match="GEMFILES_OPENAI_BASE_URL is not set"):
        server_factory(GEMFILES_MODELS='{"gpt-*": "openai", "*": "inspect"}')


# Backend failures, in-process, with backends that fail on purpose ---------------------------------


class FailingBackend:
    """Fails before its first event (``at_once``) or after one delta, with ``error``."""

    def __init__(self, error: Exception, *, at_once: bool) -> None:
        self.error = error
        self.at_once = at_once

    async def generate(self, request: ModelRequest) -> AsyncIterator[OutputEvent]:
        if not self.at_once:
            yield TextDelta("partial ")
        raise self.error

    async def count_tokens(self, request: ModelRequest) -> Usage:
        raise self.error

    async def close(self) -> None:
        return None


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path, run_workers=False))
    with TestClient(app, headers={"x-goog-api-key": new_key()}) as client:
        app.state.services.generation.router = ModelRouter(
            [
                ("down", "down"),
                ("slow", "slow"),
                ("broken", "broken"),
                ("*", "inspect"),
            ],
            {
                "down": FailingBackend(
                    Unavailable("The upstream model server is unavailable."), at_once=True
                ),
                "slow": FailingBackend(
                    DeadlineExceeded("The upstream model server timed out."), at_once=False
                ),
                "broken": FailingBackend(RuntimeError("bug"), at_once=False),
                "inspect": InspectBackend(),
            },
        )
        yield client


TEXT_BODY = {"contents": [{"parts": [{"text": "hi"}]}]}


def test_backend_error_before_the_first_event_is_the_answer_status(app_client: TestClient) -> None:
    message = "The upstream model server is unavailable."
    for path in ("/v1beta/models/down:generateContent", "/v1beta/models/down:streamGenerateContent?alt=sse"):
        reply = app_client.post(path, json=TEXT_BODY)
        assert reply.status_code == 503 and reply.headers["content-type"].startswith("application/json")
        assert reply.json() == {"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}}
    reply = app_client.post("/v1beta/models/down:countTokens", json=TEXT_BODY)
    assert reply.status_code == 503
    for stream in (False, True):
        reply = app_client.post(
            "/v1beta/interactions", json={"model": "down", "input": "hi", "stream": stream}
        )
        assert reply.status_code == 503 and reply.json()["error"]["status"] == "UNAVAILABLE"


def test_backend_error_after_the_first_event_ends_the_stream_with_an_error(app_client: TestClient) -> None:
    reply = app_client.post("/v1beta/models/slow:generateContent", json=TEXT_BODY)
    assert reply.status_code == 504 and reply.json()["error"]["status"] == "DEADLINE_EXCEEDED"

    reply = app_client.post("/v1beta/models/slow:streamGenerateContent?alt=sse", json=TEXT_BODY)
    assert reply.status_code == 200
    events = [json.loads(e[len("data: ") :]) for e in reply.text.removesuffix("\n\n").split("\n\n")]
    assert events[0]["candidates"][0]["content"]["parts"][0]["text"] == "partial "
    assert events[-1] == {
        "error": {
            "code": 504,
            "message": "The upstream model server timed out.",
            "status": "DEADLINE_EXCEEDED",
        }
    }

    reply = app_client.post("/v1beta/models/broken:streamGenerateContent?alt=sse", json=TEXT_BODY)
    assert reply.text.endswith(
        'data: {"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}\n\n'
    )
    assert "bug" not in reply.text

    reply = app_client.post("/v1beta/interactions", json={"model": "slow", "input": "hi", "stream": True})
    payloads = [json.loads(e.split("\ndata: ", 1)[1]) for e in reply.text.removesuffix("\n\n").split("\n\n")]
    assert [p["event_type"] for p in payloads] == ["interaction.created", "step.start", "step.delta", "error"]
    assert payloads[-1]["error"] == {
        "code": "DEADLINE_EXCEEDED",
        "message": "The upstream model server timed out.",
    }
    stored = app_client.get(f"/v1beta/interactions/{payloads[0]['interaction']['id']}").json()
    assert stored["status"] == "failed"


class ClosingBackend(InspectBackend):
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def test_backends_are_closed_when_the_server_stops_without_workers(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, run_workers=False))
    backend = ClosingBackend()
    app.state.services.generation.router = ModelRouter([("*", "inspect")], {"inspect": backend})
    with TestClient(app, headers={"x-goog-api-key": new_key()}) as client:
        assert client.post("/v1beta/models/m:generateContent", json=TEXT_BODY).status_code == 200
        assert not backend.closed
    assert backend.closed


def test_a_bad_routing_table_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GEMFILES_OPENAI_BASE_URL"):
        create_app(Settings(data_dir=tmp_path, models={"*": "openai"}))
