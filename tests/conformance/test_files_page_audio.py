"""The Files API page's samples (Python sync and async, JS), repeated, with no wait between the upload of
``sample.mp3`` and its use: audio is ACTIVE at finalize, as Google returns it, so no SDK waits and none
needs to."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest
from google import genai

from tests.conformance.test_js_sdk import NODE, run_script
from tests.support import LiveServer

MODEL = "gemini-2.5-flash"
REPEATS = 5


@pytest.fixture(scope="module")
def sample_mp3() -> bytes:
    """A real MP3 of 2 s of silence (PyAV, libmp3lame)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=16000)
        stream.layout = "mono"
        samples = 1152
        for n in range(0, 32000, samples):
            frame = av.AudioFrame(format="s16p", layout="mono", samples=samples)
            frame.planes[0].update(bytes(samples * 2))
            frame.sample_rate = 16000
            frame.pts = n
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def test_python_sample_uploads_and_uses_the_audio_at_once_every_time(
    client: genai.Client, sample_mp3: bytes
) -> None:
    for _ in range(REPEATS):
        myfile = client.files.upload(file=io.BytesIO(sample_mp3), config={"mime_type": "audio/mpeg"})
        assert myfile.state is not None and myfile.state.name == "ACTIVE"
        interaction = client.interactions.create(
            model=MODEL,
            input=[
                {"type": "text", "text": "Describe this audio clip"},
                {"type": "audio", "uri": myfile.uri, "mime_type": myfile.mime_type},
            ],
        )
        assert interaction.status == "completed"
        assert "  Audio codec: mp3" in interaction.output_text.splitlines()
        response = client.models.generate_content(model=MODEL, contents=["Describe this audio clip", myfile])
        assert response.text is not None and "  Audio codec: mp3" in response.text.splitlines()


async def test_async_sample_uploads_and_uses_the_audio_at_once_every_time(
    aclient: genai.client.AsyncClient, sample_mp3: bytes
) -> None:
    for _ in range(REPEATS):
        myfile = await aclient.files.upload(file=io.BytesIO(sample_mp3), config={"mime_type": "audio/mpeg"})
        response = await aclient.models.generate_content(
            model=MODEL, contents=["Describe this audio clip", myfile]
        )
        assert response.text is not None and "  Audio codec: mp3" in response.text.splitlines()


@pytest.mark.skipif(NODE is None, reason="node is not on PATH")
def test_js_sample_uploads_and_uses_the_audio_at_once_every_time(
    live_server: LiveServer, api_key: str, sample_mp3: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "sample.mp3"
    path.write_bytes(sample_mp3)
    out = run_script(live_server, api_key, "files_page_audio.mjs", str(path), str(REPEATS))
    assert len(out["runs"]) == REPEATS
    for run in out["runs"]:
        assert run["state"] == "ACTIVE" and run["status"] == "completed"
        assert "  Audio codec: mp3" in run["text"].splitlines()
        assert "  Audio codec: mp3" in (run["interactionText"] or "").splitlines()
