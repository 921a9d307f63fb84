"""Google's documented REST/curl flow for the Files API, replayed by files_rest_flow.sh on a live server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conformance.expect import decoded_sha256, permission_denied_message
from tests.support import LiveServer

SCRIPT = Path(__file__).parent / "files_rest_flow.sh"
MISSING = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"the REST flow script needs {', '.join(MISSING)}")


def test_rest_flow_from_docs_uploads_gets_lists_and_deletes(live_server: LiveServer, api_key: str) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT), live_server.url, api_key], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"files_rest_flow.sh failed:\n{done.stderr}\n{done.stdout}"
    out = json.loads(done.stdout)

    assert out["upload_url"].startswith(f"{live_server.url}/upload/v1beta/files?upload_id=")
    file = out["finalized"]["file"]
    # The start body was the docs' single-quoted {'file': {'display_name': ...}}: its name was understood.
    assert file["displayName"] == "REST sample"
    assert file["mimeType"] == out["mime_type"] == "text/plain"
    assert file["sizeBytes"] == str(out["num_bytes"])
    assert decoded_sha256(file["sha256Hash"]) == out["sha256"]  # sha256sum of the bytes curl sent
    assert file["state"] == "ACTIVE"
    assert file["uri"] == f"{live_server.url}/v1beta/{file['name']}"

    assert out["got"] == out["got_with_query_key"] == file
    assert out["listed"] == out["listed_with_query_key"] == {"files": [file]}

    assert out["deleted"] == {}
    assert out["after_delete_status"] == 403
    assert out["after_delete"]["error"]["message"] == permission_denied_message(file["name"])

    assert out["second_name"] != file["name"]
    assert out["deleted_with_query_key"] == {}
    assert out["after_query_delete_status"] == 403
    assert out["listed_after_deletes"].get("files", []) == []
