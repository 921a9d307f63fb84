"""Processing on a live server: video starts PROCESSING (audio is ACTIVE at once) and the background probe
settles them.

Uploads go through the resumable protocol byte for byte (raw httpx) and through the unmodified Python SDK;
the state is then polled with files.get, as a user's code does.
"""

from __future__ import annotations

import io
import re
import time
from typing import Any

import httpx
import pytest
from google import genai

from tests.support import LiveServer
from tests.unit.media import samples

SETTLE_SECONDS = 20.0  # generous: the machine is shared; a 2 s clip is probed in well under a second
DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")  # google.protobuf.Duration in JSON: "2s", "2.04s"


def upload(server: LiveServer, key: str, data: bytes, mime_type: str) -> dict[str, Any]:
    """start, then one ``upload, finalize``: the File resource of the final reply."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        start = client.post(
            "/upload/v1beta/files",
            headers={
                "x-goog-api-key": key,
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(len(data)),
                "X-Goog-Upload-Header-Content-Type": mime_type,
            },
            json={"file": {"display_name": "clip"}},
        )
        assert start.status_code == 200, start.text
        final = client.post(
            start.headers["x-goog-upload-url"],
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
            content=data,
        )
        assert final.status_code == 200, final.text
        assert final.headers["x-goog-upload-status"] == "final"
        return dict(final.json()["file"])


def settle(server: LiveServer, key: str, name: str) -> dict[str, Any]:
    """files.get until the file leaves PROCESSING."""
    deadline = time.monotonic() + SETTLE_SECONDS
    with httpx.Client(base_url=server.url, timeout=10, headers={"x-goog-api-key": key}) as client:
        while True:
            reply = client.get(f"/v1beta/{name}")
            assert reply.status_code == 200, reply.text
            file = dict(reply.json())
            if file["state"] != "PROCESSING" or time.monotonic() > deadline:
                return file
            time.sleep(0.1)


def test_uploaded_video_is_processing_then_active_with_its_duration(
    live_server: LiveServer, api_key: str
) -> None:
    clip = samples.video("mp4", "mpeg4", "aac", seconds=2.0, fps=25)

    uploaded = upload(live_server, api_key, clip, "video/mp4")
    assert uploaded["state"] == "PROCESSING"
    assert "videoMetadata" not in uploaded

    file = settle(live_server, api_key, uploaded["name"])

    assert file["state"] == "ACTIVE", file
    assert "error" not in file
    match = DURATION.match(file["videoMetadata"]["videoDuration"])
    assert match, file["videoMetadata"]
    assert float(match.group(1)) == pytest.approx(2.0, abs=1 / 25)


def test_video_recorded_without_a_duration_gets_one(live_server: LiveServer, api_key: str) -> None:
    clip = samples.video("webm", "libvpx", "libopus", seconds=2.0, sample_rate=48000, seekable=False)

    file = settle(live_server, api_key, upload(live_server, api_key, clip, "video/webm")["name"])

    assert file["state"] == "ACTIVE", file
    match = DURATION.match(file["videoMetadata"]["videoDuration"])
    assert match and float(match.group(1)) == pytest.approx(2.0, abs=1 / 25)


def test_garbage_labelled_video_ends_failed_saying_why(live_server: LiveServer, api_key: str) -> None:
    uploaded = upload(live_server, api_key, b"certainly not a movie\n" * 100, "video/mp4")
    assert uploaded["state"] == "PROCESSING"

    file = settle(live_server, api_key, uploaded["name"])

    assert file["state"] == "FAILED", file
    assert file["error"]["code"] == 3
    assert "not a readable video file" in file["error"]["message"]
    assert "videoMetadata" not in file


def test_wav_uploaded_with_the_sdk_ends_active(live_server: LiveServer, api_key: str) -> None:
    client = genai.Client(api_key=api_key, http_options={"base_url": live_server.url})
    wav = samples.audio("wav", "pcm_s16le", 1.5, sample_rate=16000, channels=1)

    uploaded = client.files.upload(file=io.BytesIO(wav), config={"mime_type": "audio/wav"})
    # Audio is ACTIVE at finalize, as Google returns it; its facts come from the background probe.
    assert uploaded.state is not None and uploaded.state.value == "ACTIVE"
    assert uploaded.name is not None

    deadline = time.monotonic() + SETTLE_SECONDS
    file = client.files.get(name=uploaded.name)
    while file.state is not None and file.state.value == "PROCESSING" and time.monotonic() < deadline:
        time.sleep(0.1)
        file = client.files.get(name=uploaded.name)

    assert file.state is not None and file.state.value == "ACTIVE"
    assert file.error is None
    assert file.video_metadata is None  # Google shows videoMetadata for videos only


def test_image_is_active_at_once(live_server: LiveServer, api_key: str) -> None:
    uploaded = upload(live_server, api_key, samples.image("PNG", 16, 9), "image/png")

    assert uploaded["state"] == "ACTIVE"
    assert settle(live_server, api_key, uploaded["name"])["state"] == "ACTIVE"


def _mapped_libraries(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as maps:
        return maps.read()


def test_media_is_decoded_in_child_processes_never_in_the_server(
    live_server: LiveServer, api_key: str
) -> None:
    """Video, audio, image and PDF probes, from the worker and from a model call, all run in children: the
    serving process never maps FFmpeg or Pillow (nor holds pypdf), whatever its clients upload."""
    assert live_server.proc is not None
    video = upload(
        live_server, api_key, samples.video("mp4", "mpeg4", "aac", seconds=1.0, fps=25), "video/mp4"
    )
    assert settle(live_server, api_key, video["name"])["state"] == "ACTIVE"
    image = upload(live_server, api_key, samples.image("PNG", 16, 9), "image/png")
    pdf = upload(live_server, api_key, samples.pdf(["first page", "second"]), "application/pdf")
    with httpx.Client(base_url=live_server.url, timeout=60, headers={"x-goog-api-key": api_key}) as client:
        reply = client.post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            json={
                "contents": [
                    {
                        "parts": [
                            {"fileData": {"fileUri": image["uri"], "mimeType": "image/png"}},
                            {"fileData": {"fileUri": pdf["uri"], "mimeType": "application/pdf"}},
                            {
                                "inlineData": {
                                    "mimeType": "image/png",
                                    "data": _b64(samples.image("PNG", 7, 5)),
                                }
                            },
                            {"text": "describe"},
                        ]
                    }
                ]
            },
        )
    assert reply.status_code == 200, reply.text
    answer = reply.json()["candidates"][0]["content"]["parts"][0]["text"]
    assert "Dimensions: 16x9" in answer and "Dimensions: 7x5" in answer and "Pages: 2" in answer

    maps = _mapped_libraries(live_server.proc.pid)
    assert "libavcodec" not in maps and "/av/" not in maps
    assert "PIL" not in maps


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
