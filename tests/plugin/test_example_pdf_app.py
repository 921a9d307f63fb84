"""``examples/pdf_app``: the example application's own tests, run as a user runs them (``pytest
examples/pdf_app``, the plugin found through its entry point), so ``make test`` runs them."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.support import ROOT

EXAMPLE = ROOT / "examples" / "pdf_app"
NOT_WIRED = "no /_internal/rules"  # the only acceptable skip: a build without scripted answers


def test_example_pdf_app_tests_pass(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLE),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert report.exists(), done.stdout + done.stderr
    cases = list(ET.parse(report).getroot().iter("testcase"))
    failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
    assert failed == [], done.stdout[-4000:]
    skipped = [c.find("skipped") for c in cases]
    assert all(s is None or NOT_WIRED in (s.get("message") or "") for s in skipped), done.stdout[-4000:]
    passed = [c.get("name") for c, s in zip(cases, skipped, strict=True) if s is None]
    assert len(passed) >= 3 and done.returncode == 0, done.stdout[-4000:]
