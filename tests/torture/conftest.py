"""Fixtures of the reliability harness: the seed, the mode, and the report every run writes.

The report (``reliability-report.json`` and ``.md`` in pytest's base temp dir) gathers each test's figures
(kills survived, invariant checks, fuzz cases, faults injected, soak series) and one summary line is
printed at the end of the run, so the README and docs/reliability.md can quote them.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_REPORT: dict[str, Any] = {}
_REPORT_DIR: list[Path] = []


@pytest.fixture(scope="session")
def torture_seed(request: pytest.FixtureRequest) -> int:
    seed = request.config.getoption("--torture-seed", None)
    if seed is None and os.environ.get("GEMFILES_TORTURE_SEED"):
        seed = int(os.environ["GEMFILES_TORTURE_SEED"])
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    print(f"\ntorture seed: {seed} (replay with --torture-seed={seed} or GEMFILES_TORTURE_SEED={seed})")
    _REPORT["seed"] = seed
    return int(seed)


@pytest.fixture(scope="session")
def torture_mode(request: pytest.FixtureRequest) -> str:
    mode = request.config.getoption("--torture-mode", None) or os.environ.get(
        "GEMFILES_TORTURE_MODE", "quick"
    )
    _REPORT["mode"] = mode
    return str(mode)


@pytest.fixture(scope="session")
def soak_minutes(request: pytest.FixtureRequest, torture_mode: str) -> float:
    minutes = request.config.getoption("--soak-minutes", None)
    if minutes is None and os.environ.get("GEMFILES_SOAK_MINUTES"):
        minutes = float(os.environ["GEMFILES_SOAK_MINUTES"])
    return float(minutes if minutes is not None else (30.0 if torture_mode == "long" else 3.0))


@pytest.fixture(scope="session")
def reliability_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A dict each test adds its section to; written out when the session ends."""
    _REPORT_DIR.append(tmp_path_factory.getbasetemp())
    yield _REPORT


def _summary(report: dict[str, Any]) -> str:
    parts = [f"seed {report.get('seed')}", f"mode {report.get('mode')}"]
    for name, section in report.items():
        if not isinstance(section, dict):
            continue
        if "kills" in section:
            parts.append(
                f"{name}: {section['kills']} kills, {section['invariant_checks']} invariant checks, "
                f"{section['files_verified']} files read back, "
                + (f"{section['batches_created']} batch jobs, " if "batches_created" in section else "")
                + f"{len(section.get('violations', []))} violations"
            )
        elif "cases" in section:
            parts.append(f"{name}: {section['cases']} cases")
        elif "faults" in section:
            parts.append(f"{name}: {section['faults']} faults")
        elif "minutes" in section:
            rss, fds = section.get("rss_mib", {}), section.get("fds", {})
            parts.append(
                f"{name}: {section['minutes']} min, RSS max {rss.get('first_third_max')} -> "
                f"{rss.get('last_third_max')} MiB (first -> last third), fds {fds.get('first_third_max')} -> "
                f"{fds.get('last_third_max')}"
            )
    return "reliability: " + "; ".join(parts)


def _write(report: dict[str, Any]) -> Path | None:
    if not _REPORT_DIR or not any(isinstance(v, dict) for v in report.values()):
        return None
    base = _REPORT_DIR[0]
    path = base / "reliability-report.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    lines = ["# Reliability run", "", _summary(report), ""]
    for name, section in report.items():
        if isinstance(section, dict):
            lines += [f"## {name}", "", "```json", json.dumps(section, indent=2, default=str), "```", ""]
    (base / "reliability-report.md").write_text("\n".join(lines))
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    path = _write(_REPORT)
    if path is not None:
        terminalreporter.write_line(_summary(_REPORT))
        terminalreporter.write_line(f"reliability report: {path} (and .md)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long mode runs for hours (200 kills, 30-minute soaks), as may a run with GEMFILES_TORTURE_KILLS:
    lift the suite's 300 s per-test limit."""
    mode = config.getoption("--torture-mode", None) or os.environ.get("GEMFILES_TORTURE_MODE", "quick")
    minutes = config.getoption("--soak-minutes", None)
    if mode == "long" or minutes is not None or os.environ.get("GEMFILES_TORTURE_KILLS"):
        limit = 4 * 3600 + int(float(minutes or 0) * 60)
        for item in items:
            if "tests/torture/" in item.nodeid:
                item.add_marker(pytest.mark.timeout(limit))
