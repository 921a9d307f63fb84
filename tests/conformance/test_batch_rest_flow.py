"""Google's documented REST/curl flow for the Batch API, replayed by batch_rest_flow.sh on a live server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import LiveServer

SCRIPT = Path(__file__).parent / "batch_rest_flow.sh"
MISSING = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"the REST flow script needs {', '.join(MISSING)}")


def test_rest_flow_from_the_batch_docs_uploads_creates_polls_and_downloads(
    live_server: LiveServer, api_key: str
) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT), live_server.url, api_key], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"batch_rest_flow.sh failed:\n{done.stderr}\n{done.stdout}"
    out = json.loads(done.stdout)

    assert out["uploaded"]["file"]["mimeType"] == "jsonl"
    assert out["uploaded"]["file"]["state"] == "ACTIVE"
    created = out["created"]
    assert created["metadata"]["@type"].endswith("GenerateContentBatch")
    assert created["metadata"]["state"] in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING")
    assert created["metadata"]["displayName"] == "my-batch-requests"
    assert created["metadata"]["inputConfig"] == {"fileName": out["input_file"]}
    assert "done" not in created

    status = out["status"]
    assert status["done"] is True and status["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert status["metadata"]["batchStats"] == {"requestCount": "2", "successfulRequestCount": "2"}
    assert status["response"]["responsesFile"] == status["metadata"]["output"]["responsesFile"]
    results = {line["key"]: line for line in out["results"]}
    assert sorted(results) == ["request-1", "request-2"]
    text = results["request-2"]["response"]["candidates"][0]["content"]["parts"][0]["text"]
    assert "Margherita pizza" in text

    inline = out["inline"]["response"]["inlinedResponses"]["inlinedResponses"]
    assert [item["metadata"]["key"] for item in inline] == ["request-1", "request-2"]
    assert all(
        "photosynthesis" in item["response"]["candidates"][0]["content"]["parts"][0]["text"]
        for item in inline
    )

    assert out["cancel_status"] == 400  # already SUCCEEDED
    assert out["delete_status"] == 200 and out["after_delete_status"] == 404
    assert [op["name"] for op in out["listed"]["operations"]] == [created["name"]]
