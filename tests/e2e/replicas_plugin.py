"""Runs the live-server suites against two replicas behind a round-robin proxy, on PostgreSQL + S3.

    .venv/bin/python -m pytest -p tests.e2e.replicas_plugin tests/conformance

Every LiveServer a test starts becomes a ReplicatedServer (tests/e2e/replicated.py): two `gemfiles serve`
processes on one database and one bucket prefix, and a proxy in front that sends each request to the other
replica. A few tests look inside the data directory (the blob folders) and cannot apply to an object store:
they are skipped under this plugin, each with its reason.
"""

from __future__ import annotations

import pytest

import tests.support as support
from tests.e2e.replicated import ReplicatedServer

_BLOB_FOLDERS = "reads the blob folders in the data directory; the blobs are in S3 under this plugin"
NOT_APPLICABLE = {
    "tests/protocol/test_crash_recovery.py::test_upload_killed_mid_chunk_resumes_from_query": _BLOB_FOLDERS,
    "tests/protocol/test_expiry.py::test_get_file_after_48h_is_denied_and_sweep_frees_bytes": _BLOB_FOLDERS,
    "tests/protocol/test_expiry.py::test_upload_session_abandoned_past_ttl_expires_and_frees": _BLOB_FOLDERS,
    "tests/protocol/test_expiry.py::test_upload_file_ttl_setting_sets_expiration_time": _BLOB_FOLDERS,
}

# Whole modules that cannot apply: the fault plan, the scripted rules and the journal live in one process's
# memory (docs/testing.md, docs/scripting.md), and each request goes to the other replica.
NOT_APPLICABLE_MODULES = {
    "tests/conformance/test_upload_faults.py": "a fault plan lives in one server process's memory",
    "tests/conformance/test_controllable_model_python.py": "rules and the journal live in one server process's memory",
    "tests/conformance/test_controllable_model_js.py": "rules and the journal live in one server process's memory",
}

support.LiveServer = ReplicatedServer  # type: ignore[misc]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        reason = NOT_APPLICABLE.get(item.nodeid.split("[")[0]) or NOT_APPLICABLE_MODULES.get(
            item.nodeid.split("::")[0]
        )
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"two replicas on PostgreSQL + S3: {reason}"))
