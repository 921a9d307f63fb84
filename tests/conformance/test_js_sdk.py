"""The JS SDK (@google/genai), unmodified, through node: each script in js/ drives one user scenario.

A script is run as ``node js/<name>.mjs <baseUrl> <apiKey> [args...]`` and prints one JSON object; the
assertions live here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.expect import (
    NON_ASCII_NAME,
    UNSUPPORTED_MIME,
    permission_denied_message,
    sha256_hash_field,
)
from tests.support import LiveServer

JS_DIR = Path(__file__).parent / "js"
NODE = shutil.which("node")
MiB = 1024 * 1024
# Variables the SDK reads; the scripts get only the ones a test sets.
SDK_ENV = {"GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI"}

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not on PATH: the JS SDK conformance tests need Node.js"),
    pytest.mark.skipif(
        not (JS_DIR / "node_modules" / "@google" / "genai").is_dir(),
        reason="tests/conformance/js/node_modules is missing: run `npm ci` in tests/conformance/js",
    ),
]


def run_script(
    server: LiveServer, api_key: str, script: str, *args: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    assert NODE is not None
    base_env = {k: v for k, v in os.environ.items() if k not in SDK_ENV}
    done = subprocess.run(
        [NODE, script, server.url, api_key, *args],
        cwd=JS_DIR,
        env={**base_env, **(env or {})},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"node {script} exited {done.returncode}:\n{done.stderr}\n{done.stdout}", pytrace=False)
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_active_upload(file: dict[str, Any], data_sha256_hex: str, size: int, mime_type: str) -> None:
    assert file["name"].startswith("files/")
    assert file["mimeType"] == mime_type
    assert file["sizeBytes"] == str(size)  # JS passes the wire string through
    assert base64.b64decode(file["sha256Hash"]).decode() == data_sha256_hex
    assert file["state"] == "ACTIVE"
    assert file["source"] == "UPLOADED"
    assert file["uri"].endswith("/" + file["name"])


def test_upload_small_blob_then_get_returns_same_file(live_server: LiveServer, api_key: str) -> None:
    data = b"The quick brown fox jumps over the lazy dog.\n"
    out = run_script(live_server, api_key, "upload_small.mjs")
    assert_active_upload(out["uploaded"], hashlib.sha256(data).hexdigest(), len(data), "text/plain")
    assert out["uploaded"]["displayName"] == "fox.txt"
    assert out["fetched"] == out["uploaded"]


def test_upload_20mb_blob_in_three_chunks_keeps_size_and_hash(live_server: LiveServer, api_key: str) -> None:
    out = run_script(live_server, api_key, "upload_large.mjs")
    assert out["size"] == 20_000_000
    assert out["chunks"] == [
        {"command": "upload", "offset": 0, "length": 8 * MiB},
        {"command": "upload", "offset": 8 * MiB, "length": 8 * MiB},
        {"command": "upload, finalize", "offset": 16 * MiB, "length": 20_000_000 - 16 * MiB},
    ]
    assert_active_upload(out["uploaded"], out["sha256"], 20_000_000, "application/pdf")
    assert out["fetched"] == out["uploaded"]


def test_upload_file_from_path_keeps_bytes(live_server: LiveServer, api_key: str, tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    data = "<!doctype html><p>héllo</p>\n".encode()
    path.write_bytes(data)
    out = run_script(live_server, api_key, "upload_path.mjs", str(path))
    assert_active_upload(out["uploaded"], hashlib.sha256(data).hexdigest(), len(data), "text/html")
    assert out["fetched"]["sha256Hash"] == sha256_hash_field(data)


def test_upload_non_ascii_display_name_and_custom_name_round_trip(
    live_server: LiveServer, api_key: str
) -> None:
    out = run_script(live_server, api_key, "upload_names.mjs", NON_ASCII_NAME, "files/my-custom-1")
    assert out["withDisplayName"]["displayName"] == NON_ASCII_NAME
    assert out["displayNameFetched"] == NON_ASCII_NAME
    assert out["withCustomName"]["name"] == "files/my-custom-1"
    assert out["withCustomName"]["sha256Hash"] == sha256_hash_field(b"custom")
    assert out["customNameFetched"] == "files/my-custom-1"
    assert sorted(out["listed"]) == sorted([out["withDisplayName"]["name"], "files/my-custom-1"])


def test_list_page_size_2_pager_yields_each_file_once_newest_first(
    live_server: LiveServer, api_key: str
) -> None:
    out = run_script(live_server, api_key, "list_pager.mjs")
    newest_first = out["uploaded"][::-1]
    assert len(set(newest_first)) == 5
    assert out["pages"] == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    assert out["iterated"] == newest_first


def test_delete_then_get_throws_api_error_403(live_server: LiveServer, api_key: str) -> None:
    out = run_script(live_server, api_key, "delete_then_get.mjs")
    denied = {
        "status": 403,
        "error": {
            "code": 403,
            "message": permission_denied_message(out["name"]),
            "status": "PERMISSION_DENIED",
        },
    }
    assert out["getAfterDelete"] == denied
    assert out["deleteAgain"] == denied
    assert out["listed"] == []


def test_upload_unsupported_mime_type_throws_api_error_400(live_server: LiveServer, api_key: str) -> None:
    out = run_script(live_server, api_key, "unsupported_mime.mjs")
    assert out["upload"] == {
        "status": 400,
        "error": {
            "code": 400,
            "message": f"Unsupported MIME type: {UNSUPPORTED_MIME}",
            "status": "INVALID_ARGUMENT",
        },
    }
    assert out["listed"] == []


def test_second_key_cannot_get_list_or_delete_files(
    live_server: LiveServer, api_key: str, other_api_key: str
) -> None:
    out = run_script(live_server, api_key, "key_isolation.mjs", other_api_key)
    assert out["otherGet"]["status"] == 403
    assert out["otherGet"]["error"]["message"] == permission_denied_message(out["name"])
    assert out["otherListed"] == []
    assert out["otherDelete"]["status"] == 403
    assert out["mineAfter"]["name"] == out["name"]
    assert out["mineAfter"]["sha256Hash"] == sha256_hash_field(b"private")


def test_client_configured_only_by_environment_reaches_server(live_server: LiveServer, api_key: str) -> None:
    env = {"GOOGLE_GEMINI_BASE_URL": live_server.url, "GEMINI_API_KEY": api_key}
    out = run_script(live_server, api_key, "env_only.mjs", env=env)
    assert out["uploaded"]["sha256Hash"] == sha256_hash_field(b"from env")
    assert out["listed"] == [out["uploaded"]["name"]]
