"""The JS SDK (@google/genai), unmodified, on the Batch API (js/batches.mjs): Google's page's JS flow."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conformance.test_js_sdk import pytestmark, run_script  # noqa: F401  (skips without node)
from tests.support import LiveServer


def test_js_batches_from_a_jsonl_file_and_inline_requests_cancel_delete_and_list(
    live_server: LiveServer, api_key: str, tmp_path: Path
) -> None:
    source = tmp_path / "my-batch-requests.jsonl"
    source.write_text(
        "".join(
            json.dumps({"key": f"request-{i}", "request": {"contents": [{"parts": [{"text": f"Q{i}"}]}]}})
            + "\n"
            for i in range(4)
        )
    )
    target = tmp_path / "results.jsonl"
    out = run_script(live_server, api_key, "batches.mjs", str(source), str(target))

    assert out["uploadedFile"]["mimeType"] == "jsonl" and out["uploadedFile"]["state"] == "ACTIVE"
    created = out["fileBatchJob"]
    assert created["name"].startswith("batches/") and created["displayName"] == "file-batch-job-1"
    assert created["state"] in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING")
    assert created["model"] == "models/gemini-2.5-flash"
    done = out["fileDone"]
    assert done["state"] == "JOB_STATE_SUCCEEDED" and done["dest"]["fileName"].startswith("files/")
    results = [json.loads(line) for line in out["results"].splitlines()]
    assert sorted(r["key"] for r in results) == [f"request-{i}" for i in range(4)]
    assert all(
        "Q" + r["key"][-1] in r["response"]["candidates"][0]["content"]["parts"][0]["text"] for r in results
    )

    assert out["inlineState"] == "JOB_STATE_SUCCEEDED"
    assert "one-sentence joke" in out["inlineTexts"][0] and "sky blue" in out["inlineTexts"][1]
    assert out["pendingState"] == "JOB_STATE_PENDING"
    assert out["cancelledState"] == "JOB_STATE_CANCELLED"
    assert sorted(out["listed"]) == sorted(out["jobs"])
    assert out["afterDelete"]["status"] == 404
