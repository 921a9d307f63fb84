"""Model calls on the wire: what the SDKs depend on byte for byte (WIRE.md 10-12), over raw HTTP."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from google import genai

from tests.support import LiveServer

MODEL = "gemini-2.5-flash"


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def http(live_server: LiveServer, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, headers={"x-goog-api-key": key}, timeout=60) as client:
        yield client


@pytest.fixture
def text_file(live_server: LiveServer, key: str) -> dict[str, Any]:
    with genai.Client(api_key=key, http_options={"base_url": live_server.url}) as client:
        file = client.files.upload(
            file=io.BytesIO(b"alpha\nbeta\n"), config={"mime_type": "text/plain", "display_name": "ab.txt"}
        )
    return {"name": file.name, "uri": file.uri}


def answer(reply: httpx.Response) -> str:
    assert reply.status_code == 200, reply.text
    return "".join(p["text"] for p in reply.json()["candidates"][0]["content"]["parts"])


def sse_events(body: str) -> list[list[str]]:
    """Events as their lines; asserts every event, the last included, ends with a blank line."""
    assert body.endswith("\n\n"), body[-200:]
    return [chunk.split("\n") for chunk in body[:-2].split("\n\n")]


def test_stream_generate_content_is_sse_with_one_data_line_per_event(
    http: httpx.Client, text_file: dict[str, Any]
) -> None:
    body = {"contents": [{"parts": [{"text": "Read"}, {"fileData": {"fileUri": text_file["uri"]}}]}]}
    reply = http.post(f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", json=body)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = sse_events(reply.text)
    assert len(events) > 3
    chunks = []
    for lines in events:
        assert len(lines) == 1 and lines[0].startswith("data: {")  # "data: " with the space (Python needs it)
        chunks.append(json.loads(lines[0][len("data: ") :]))
    assert all("continuationToken" not in json.dumps(c) for c in chunks)
    assert [c["candidates"][0].get("finishReason") for c in chunks][-1] == "STOP"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert len({c["responseId"] for c in chunks}) == 1
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert f"File 1: {text_file['name']}" in text
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] > 0


@pytest.mark.parametrize(
    "part",
    [
        {"fileData": {"file_uri": "{uri}", "mime_type": "text/plain"}},  # Python SDK
        {"fileData": {"fileUri": "{uri}", "mimeType": "text/plain"}},  # JS SDK
        {"file_data": {"mime_type": "text/plain", "file_uri": "{uri}"}},  # curl samples
    ],
)
def test_file_data_in_every_spelling_resolves(
    http: httpx.Client, text_file: dict[str, Any], part: dict
) -> None:
    part = json.loads(json.dumps(part).replace("{uri}", text_file["uri"]))
    text = answer(
        http.post(f"/v1beta/models/{MODEL}:generateContent", json={"contents": [{"parts": [part]}]})
    )
    assert f"File 1: {text_file['name']}" in text.splitlines()
    assert "  Lines: 2" in text.splitlines()
    assert '  First line: "alpha"' in text.splitlines()


def test_every_version_prefix_key_parameter_and_tuned_models_route(
    live_server: LiveServer, key: str, text_file: dict[str, Any]
) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    with httpx.Client(base_url=live_server.url, timeout=60) as raw:
        for path in (
            f"/v1/models/{MODEL}:generateContent",
            f"/v1beta/models/{MODEL}:generateContent",
            f"/v1alpha/models/{MODEL}:generateContent",
            f"/models/{MODEL}:generateContent",
            "/v1beta/tunedModels/my-tuned-1:generateContent",
        ):
            reply = raw.post(path, params={"key": key}, json=body)
            assert reply.status_code == 200, (path, reply.text)
        assert "Model: tunedModels/my-tuned-1" in answer(reply).splitlines()
        assert raw.get("/v1beta/tunedModels", params={"key": key}).json() == {}


def test_count_tokens_takes_contents_or_a_generate_content_request(http: httpx.Client) -> None:
    contents = [{"parts": [{"text": "12345678"}]}]
    path = f"/v1beta/models/{MODEL}:countTokens"
    assert http.post(path, json={"contents": contents}).json() == {
        "totalTokens": 2,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 2}],
    }
    shaped = {"generateContentRequest": {"model": f"models/{MODEL}", "contents": contents}}
    assert http.post(path, json=shaped).json()["totalTokens"] == 2


def test_inline_data_is_reported_with_its_hash(http: httpx.Client) -> None:
    data = b"inline bytes\n"
    part = {"inlineData": {"mimeType": "text/plain", "data": base64.b64encode(data).decode()}}
    text = answer(
        http.post(f"/v1beta/models/{MODEL}:generateContent", json={"contents": [{"parts": [part]}]})
    )
    assert f"  Size: {len(data)} bytes" in text.splitlines()
    assert f"  SHA-256: {hashlib.sha256(data).hexdigest()}" in text.splitlines()


# Interactions ----------------------------------------------------------------------


def test_interaction_is_json_with_steps_outputs_and_no_continuation(http: httpx.Client) -> None:
    reply = http.post("/v1beta/interactions", json={"model": MODEL, "input": "hello"})
    assert reply.status_code == 200
    assert reply.headers["content-type"].split(";")[0] == "application/json"
    body = reply.json()
    assert body["status"] == "completed" and body["object"] == "interaction"
    assert body["steps"][0]["type"] == "model_output"
    assert body["outputs"] == body["steps"][0]["content"]
    assert body["created"].endswith("Z") and len(body["created"]) == 20
    assert "continuation" not in reply.text
    assert (
        body["usage"]["total_tokens"]
        == body["usage"]["total_input_tokens"] + body["usage"]["total_output_tokens"]
    )


@pytest.mark.parametrize(
    "shape",
    [
        "plain string",
        {"type": "text", "text": "plain string"},
        [{"type": "text", "text": "plain string"}],
        [{"text": "plain string"}],
        [{"type": "user_input", "content": [{"type": "text", "text": "plain string"}]}],
        [{"role": "user", "content": "plain string"}],
    ],
)
def test_interaction_input_in_every_shape(http: httpx.Client, shape: Any) -> None:
    body = http.post("/v1beta/interactions", json={"model": MODEL, "input": shape}).json()
    assert 'Text: "plain string"' in body["steps"][0]["content"][0]["text"].splitlines()


def test_interaction_file_block_in_camel_case_too(http: httpx.Client, text_file: dict[str, Any]) -> None:
    block = {"type": "document", "uri": text_file["uri"], "mimeType": "text/plain"}
    body = http.post("/v1beta/interactions", json={"model": MODEL, "input": [block]}).json()
    assert f"File 1: {text_file['name']}" in body["outputs"][0]["text"].splitlines()


def test_interaction_stream_has_event_and_data_lines(http: httpx.Client) -> None:
    reply = http.post(
        "/v1beta/interactions",
        json={"model": MODEL, "input": "hello", "stream": True},
        headers={"accept": "text/event-stream"},
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    kinds = []
    for lines in sse_events(reply.text):
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: {")
        payload = json.loads(lines[1][len("data: ") :])
        assert payload["event_type"] == lines[0][len("event: ") :]
        kinds.append(payload["event_type"])
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
    assert "continuation" not in reply.text


def test_stored_interaction_replays_as_a_stream_and_resumes_after_an_event(http: httpx.Client) -> None:
    created = http.post("/v1beta/interactions", json={"model": MODEL, "input": "hello"}).json()
    full = http.get(f"/v1beta/interactions/{created['id']}", params={"stream": "true"})
    assert full.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(lines[1][len("data: ") :]) for lines in sse_events(full.text)]
    assert [e["event_type"] for e in events] == [
        "interaction.created",
        "step.start",
        "step.delta",
        "step.stop",
        "interaction.completed",
    ]
    assert events[2]["delta"] == created["steps"][0]["content"][0]
    resumed = http.get(
        f"/v1beta/interactions/{created['id']}",
        params={"stream": "true", "last_event_id": events[2]["event_id"]},
    )
    assert [json.loads(lines[1][6:])["event_type"] for lines in sse_events(resumed.text)] == [
        "step.stop",
        "interaction.completed",
    ]


def test_get_with_include_input_echoes_the_input_and_store_false_keeps_nothing(http: httpx.Client) -> None:
    created = http.post("/v1beta/interactions", json={"model": MODEL, "input": "remember me"}).json()
    fetched = http.get(f"/v1beta/interactions/{created['id']}", params={"include_input": "true"}).json()
    assert fetched["input"] == "remember me"
    assert fetched["steps"][0] == {"type": "user_input", "content": [{"type": "text", "text": "remember me"}]}
    assert "input" not in http.get(f"/v1beta/interactions/{created['id']}").json()

    unstored = http.post(
        "/v1beta/interactions", json={"model": MODEL, "input": "forget me", "store": False}
    ).json()
    assert unstored["status"] == "completed"
    assert http.get(f"/v1beta/interactions/{unstored['id']}").status_code == 404


def test_delete_answers_200_with_an_empty_json_object(http: httpx.Client) -> None:
    created = http.post("/v1beta/interactions", json={"model": MODEL, "input": "x"}).json()
    reply = http.request("DELETE", f"/v1beta/interactions/{created['id']}", json={})
    assert reply.status_code == 200 and reply.json() == {}


def test_interactions_expire_after_their_ttl(server_factory: Callable[..., LiveServer], key: str) -> None:
    server = server_factory(GEMFILES_EMULATOR_CONTROLS="true", GEMFILES_INTERACTION_TTL="1h")
    with httpx.Client(base_url=server.url, headers={"x-goog-api-key": key}, timeout=60) as http:
        created = http.post("/v1beta/interactions", json={"model": MODEL, "input": "x"}).json()
        assert http.get(f"/v1beta/interactions/{created['id']}").status_code == 200
        assert http.post("/_internal/clock", json={"advance": "2h"}).status_code == 200
        assert http.get(f"/v1beta/interactions/{created['id']}").status_code == 404
        follow_up = {"model": MODEL, "input": "y", "previous_interaction_id": created["id"]}
        assert http.post("/v1beta/interactions", json=follow_up).status_code == 404


def test_inline_data_interaction_keeps_small_data_and_reports_it(http: httpx.Client) -> None:
    data = base64.b64encode(b"tiny\n").decode()
    block = {"type": "document", "mime_type": "text/plain", "data": data}
    created = http.post("/v1beta/interactions", json={"model": MODEL, "input": [block]}).json()
    assert "  Size: 5 bytes" in created["outputs"][0]["text"].splitlines()
    fetched = http.get(f"/v1beta/interactions/{created['id']}", params={"include_input": "true"}).json()
    assert fetched["steps"][0]["content"] == [block]
    assert fetched["input"] == [{"type": "user_input", "content": [block]}]
