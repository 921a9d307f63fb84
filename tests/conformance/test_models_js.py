"""The JS SDK (@google/genai), unmodified, through node: model calls and interactions with uploaded files.

Each script in js/models_*.mjs runs one user scenario and prints one JSON object; the assertions live
here and check the inspector's facts (the right file, size, SHA-256 and duration reached the model).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google import genai

from tests.conformance.model_samples import wav
from tests.support import LiveServer

JS_DIR = Path(__file__).parent / "js"
NODE = shutil.which("node")
MODEL = "gemini-2.5-flash"

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not on PATH: the JS SDK conformance tests need Node.js"),
    pytest.mark.skipif(
        not (JS_DIR / "node_modules" / "@google" / "genai").is_dir(),
        reason="tests/conformance/js/node_modules is missing: run `npm ci` in tests/conformance/js",
    ),
]


def run_script(server: LiveServer, api_key: str, script: str, *args: str) -> dict[str, Any]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, script, server.url, api_key, *args],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"node {script} exited {done.returncode}:\n{done.stderr}\n{done.stdout}", pytrace=False)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def wav_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = wav(1.5)
    path = tmp_path / "tone.wav"
    path.write_bytes(data)
    return path, data


def facts_of(file: dict[str, Any], data: bytes) -> list[str]:
    return [
        f"File 1: {file['name']}",
        '  Display name: "tone.wav"',
        "  MIME type: audio/wav",
        f"  Size: {len(data)} bytes",
        f"  SHA-256: {hashlib.sha256(data).hexdigest()}",
        "  Duration: 1.500 s",
        "  Audio codec: pcm_s16le",
    ]


def assert_lines(text: str, expected: list[str]) -> None:
    lines = text.splitlines()
    for line in expected:
        assert line in lines, f"{line!r} not in:\n{text}"


def test_generate_content_stream_and_count_tokens_see_the_uploaded_audio(
    live_server: LiveServer, api_key: str, wav_file: tuple[Path, bytes]
) -> None:
    path, data = wav_file
    out = run_script(live_server, api_key, "models_generate.mjs", str(path))
    assert out["file"]["state"] == "ACTIVE"
    # The JS SDK sends fileData in camelCase (fileUri, mimeType): the same facts come back.
    assert_lines(out["text"], [*facts_of(out["file"], data), 'Text: "Describe this"'])
    assert out["usage"]["promptTokenCount"] == 4 + 2 * 32
    assert out["usage"]["candidatesTokenCount"] == math.ceil(len(out["text"]) / 4)
    assert (
        out["usage"]["totalTokenCount"]
        == out["usage"]["promptTokenCount"] + out["usage"]["candidatesTokenCount"]
    )
    assert out["finishReason"] == "STOP"
    assert out["modelVersion"] == MODEL
    assert len(out["chunks"]) > 3
    assert "".join(out["chunks"]) == out["text"]
    assert out["lastFinishReason"] == "STOP"
    assert out["lastUsage"] == out["usage"]
    assert out["countTokens"] == 68
    assert "models/inspect" in out["listed"]
    assert out["got"] == f"models/{MODEL}"


def test_interactions_create_stream_get_and_delete_with_the_files_page_input(
    live_server: LiveServer, api_key: str, wav_file: tuple[Path, bytes]
) -> None:
    path, data = wav_file
    out = run_script(live_server, api_key, "models_interactions.mjs", str(path))
    expected = ['Text: "Describe this audio clip"', *facts_of(out["file"], data)]

    interaction = out["interaction"]
    assert interaction["status"] == "completed"
    assert_lines(out["outputText"], expected)
    assert interaction["usage"]["total_input_tokens"] == 6 + 64
    assert interaction["usage"]["total_output_tokens"] == math.ceil(len(out["outputText"]) / 4)
    assert "continuation_token" not in interaction
    # The legacy outputs array, for REST clients that read it with jq.
    assert interaction["outputs"] == [{"type": "text", "text": out["outputText"]}]

    kinds = [event["event_type"] for event in out["events"]]
    assert kinds[:2] == ["interaction.created", "step.start"]
    assert kinds[-2:] == ["step.stop", "interaction.completed"]
    streamed = "".join(e["delta"]["text"] for e in out["events"] if e["event_type"] == "step.delta")
    assert streamed == out["outputText"]
    assert out["events"][-1]["interaction"]["status"] == "completed"

    fetched = out["fetched"]
    assert [step["type"] for step in fetched["steps"]] == ["user_input", "model_output"]
    assert fetched["steps"][0]["content"][1] == {
        "type": "audio",
        "uri": out["file"]["uri"],
        "mime_type": "audio/wav",
    }
    assert fetched["outputText"] == out["outputText"]
    assert out["afterDelete"] == {"name": "NotFoundError", "status": 404}


def test_foreign_file_and_malformed_uri_are_refused(live_server: LiveServer, api_key: str) -> None:
    with genai.Client(api_key=f"{api_key}-owner", http_options={"base_url": live_server.url}) as owner:
        file = owner.files.upload(file=io.BytesIO(b"not yours\n"), config={"mime_type": "text/plain"})
    assert file.uri is not None and file.name is not None
    out = run_script(live_server, api_key, "models_errors.mjs", file.uri)
    file_id = file.name.removeprefix("files/")
    denied = f"You do not have permission to access the File {file_id} or it may not exist."
    assert out["foreign"] == {
        "status": 403,
        "error": {"code": 403, "message": denied, "status": "PERMISSION_DENIED"},
    }
    assert out["foreignStream"] == out["foreign"]
    assert out["malformed"]["status"] == 400
    assert out["malformed"]["error"]["status"] == "INVALID_ARGUMENT"
    assert out["interaction"] == {"name": "PermissionDeniedError", "status": 403}
