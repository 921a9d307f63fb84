"""The pytest plugin, as a user meets it: a test file of their own, run by a real ``pytest`` process that
finds the plugin through its ``pytest11`` entry point (no conftest, no ``-p``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

USER_TESTS = """
import io
import os
import time

import httpx
import pytest
from google import genai
from google.genai import errors

from gemfiles.testing import ControlError


@pytest.fixture
def client(gemini):
    with genai.Client() as sdk:  # configured by the environment the gemini fixture set
        yield sdk


def upload(client, text: bytes = b"hello"):
    return client.files.upload(file=io.BytesIO(text), config={"mime_type": "text/plain"})


def test_sdk_env_points_at_the_server(gemini, client):
    assert os.environ["GOOGLE_GEMINI_BASE_URL"] == gemini.base_url
    assert os.environ["GEMINI_API_KEY"] == os.environ["GOOGLE_API_KEY"] == gemini.api_key
    file = upload(client)
    assert client.files.get(name=file.name).size_bytes == 5


def test_each_test_gets_its_own_project(gemini, client):
    assert list(client.files.list()) == []


def test_fault_helper_plans_a_fault_the_sdk_meets(gemini, client):
    plan = gemini.fault("start_exhausted", retry_after=1)
    assert plan["faults"] == [{"kind": "start_exhausted", "nth": 1, "times": 1, "retry_after": 1}]
    with pytest.raises(errors.ClientError) as refused:
        upload(client)
    assert refused.value.code == 429
    assert gemini.fired() == [1]
    upload(client)


def test_bad_fault_raises_a_control_error_naming_the_field(gemini):
    with pytest.raises(ControlError, match="fault 0: hold_processing needs 'seconds'"):
        gemini.fault("hold_processing")


def test_advance_moves_the_clock_past_a_hold(gemini, client):
    gemini.fault("hold_processing", seconds=600)
    file = upload(client)
    assert file.state.name == "PROCESSING"
    gemini.advance(601)
    deadline = time.monotonic() + 15
    while client.files.get(name=file.name).state.name != "ACTIVE":
        assert time.monotonic() < deadline, "the file stayed PROCESSING"
        time.sleep(0.1)


def test_script_journal_and_reset(gemini, client):
    if gemini.http.get("/_internal/rules").status_code == 404:
        pytest.skip("this server has no /_internal/rules (scripted answers are not wired in this build)")
    gemini.script([{"name": "hi", "answer": {"text": "scripted hello"}}])
    assert client.models.generate_content(model="inspect", contents="hi").text == "scripted hello"
    [entry] = gemini.journal()
    assert entry["answer"]["text"] == "scripted hello" and "hi" in entry["turns"][0]["texts"]
    upload(client)
    gemini.reset()
    assert gemini.journal() == [] and list(client.files.list()) == []
    assert client.models.generate_content(model="inspect", contents="hi").text != "scripted hello"
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Runs the user's tests once; {test name: (outcome, message)}."""
    root = tmp_path_factory.mktemp("user-project")
    (root / "test_with_gemfiles.py").write_text(textwrap.dedent(USER_TESTS))
    report = root / "report.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", "-rs"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert report.exists(), done.stdout + done.stderr
    return parse_junit(report, done.stdout)


def parse_junit(report: Path, output: str) -> dict[str, tuple[str, str]]:
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome, message = child.tag, (child.get("message") or "") + (child.text or "")
        results[case.get("name", "")] = (outcome, message or output[-3000:] if outcome != "passed" else "")
    return results


@pytest.mark.parametrize(
    "name",
    [
        "test_sdk_env_points_at_the_server",
        "test_each_test_gets_its_own_project",
        "test_fault_helper_plans_a_fault_the_sdk_meets",
        "test_bad_fault_raises_a_control_error_naming_the_field",
        "test_advance_moves_the_clock_past_a_hold",
    ],
)
def test_plugin_fixture_passes_user_test(outcomes: dict[str, tuple[str, str]], name: str) -> None:
    assert outcomes[name][0] == "passed", outcomes[name][1]


def test_plugin_script_journal_and_reset_helpers(outcomes: dict[str, tuple[str, str]]) -> None:
    outcome, message = outcomes["test_script_journal_and_reset"]
    if outcome == "skipped":
        pytest.skip(f"the user's test skipped: {message}")  # until /_internal/rules exists in this build
    assert outcome == "passed", message
