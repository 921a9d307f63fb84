"""Audio is ACTIVE at finalize, as Google returns it: the Files API page's samples upload an mp3 and use it
at once. A model call that comes before the background probe probes the file on demand; bytes that do not
decode fail that call with a 400 (before and after the background probe, which leaves a file that was
usable at once ACTIVE)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.conformance.model_samples import wav
from tests.protocol.uploading import assert_error, key_headers, upload_file
from tests.support import LiveServer

MODEL = "gemini-2.5-flash"


def generate(
    client: httpx.Client, key: str, file: dict[str, str], method: str = "generateContent"
) -> httpx.Response:
    body = {"contents": [{"parts": [{"text": "Describe"}, {"fileData": {"fileUri": file["uri"]}}]}]}
    return client.post(f"/v1beta/models/{MODEL}:{method}", headers=key_headers(key), json=body)


def test_audio_is_active_at_finalize_and_probed_on_demand_by_a_model_call(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    server = server_factory(GEMFILES_RUN_WORKERS="false")  # no background probe: only the call can probe
    with httpx.Client(base_url=server.url, timeout=60) as client:
        file = upload_file(client, api_key, wav(2.0), mime_type="audio/wav")
        assert file["state"] == "ACTIVE"
        reply = generate(client, api_key, file)
        assert reply.status_code == 200, reply.text
        text = reply.json()["candidates"][0]["content"]["parts"][0]["text"]
        assert "  Duration: 2.000 s" in text.splitlines()
        counted = generate(client, api_key, file, "countTokens").json()
        assert counted["totalTokens"] == 2 + 2 * 32  # "Describe" + 2 s of audio at 32 tokens/s


def test_undecodable_audio_fails_the_model_call_with_a_400(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    server = server_factory(GEMFILES_RUN_WORKERS="false")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        file = upload_file(
            client, api_key, b"This is a text file, not a song.\n" * 200, mime_type="audio/mpeg"
        )
        assert file["state"] == "ACTIVE"
        for method in ("generateContent", "countTokens"):
            error = assert_error(generate(client, api_key, file, method), 400, "INVALID_ARGUMENT")
            file_id = file["name"].removeprefix("files/")
            assert error["message"].startswith(f"The File {file_id} could not be decoded as audio/mpeg: ")


def test_undecodable_audio_stays_active_and_fails_model_calls_after_the_background_probe_too(
    live_server: LiveServer, api_key: str
) -> None:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        file = upload_file(client, api_key, bytes(range(256)) * 40, mime_type="audio/mpeg")
        assert_error(generate(client, api_key, file), 400, "INVALID_ARGUMENT")  # probed on demand
        time.sleep(1.5)  # the background probe stores its facts; a file usable at once stays ACTIVE
        got = client.get(f"/v1beta/{file['name']}", headers=key_headers(api_key)).json()
        assert got["state"] == "ACTIVE" and "error" not in got
        error = assert_error(generate(client, api_key, file), 400, "INVALID_ARGUMENT")
        assert "could not be decoded as audio/mpeg" in error["message"]
