"""Soak: mixed traffic for N minutes (1 in `make test`, 30 in `make soak`), the server's RSS, open file
descriptors and (on PostgreSQL) database connections sampled; they must stay flat.

Flat: the maximum over the last third of the run is within a small margin of the maximum over the first
third (RSS: +10 % + 16 MiB; descriptors: +16; connections: +4). No kills here; the invariants are checked
at the end as in the crash torture.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import LiveServer
from tests.torture.clients import TortureClient
from tests.torture.harness import TORTURE_ENV
from tests.torture.ledger import CheckFigures, Violations, check_ledger

SAMPLE_SECONDS = 1.0
RSS_MARGIN = (1.10, 16.0)  # factor, MiB
FD_MARGIN = 16
CONNECTION_MARGIN = 4


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def pg_connections(url: str) -> int:
    import asyncpg

    database = url.rsplit("/", 1)[1]

    async def count() -> int:
        conn = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
        try:
            value = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database)
            return int(value)
        finally:
            await conn.close()

    return asyncio.run(count())


def flat(series: list[float], factor: float, plus: float) -> tuple[bool, float, float]:
    third = max(1, len(series) // 3)
    first, last = max(series[:third]), max(series[-third:])
    return last <= first * factor + plus, first, last


def summary(series: list[float]) -> dict[str, float]:
    return {
        "min": round(min(series), 1),
        "median": round(statistics.median(series), 1),
        "max": round(max(series), 1),
        "first_third_max": round(max(series[: max(1, len(series) // 3)]), 1),
        "last_third_max": round(max(series[-max(1, len(series) // 3) :]), 1),
        "samples": len(series),
    }


def soak(
    server: LiveServer,
    minutes: float,
    seed: int,
    connections: Callable[[], int] | None = None,
) -> dict[str, Any]:
    assert server.proc is not None
    pid = server.proc.pid
    violations = Violations()
    clients = [
        TortureClient(i, lambda: server.url, seed, violations, big_files=False, max_files=25)
        for i in range(4)
    ]
    series: dict[str, list[float]] = {"rss_mib": [], "fds": [], "pg_connections": []}
    for client in clients:
        client.thread.start()
    began = time.monotonic()
    try:
        while time.monotonic() - began < minutes * 60 and not violations.items:
            series["rss_mib"].append(rss_mib(pid))
            series["fds"].append(open_fds(pid))
            if connections is not None:
                series["pg_connections"].append(connections())
            time.sleep(SAMPLE_SECONDS)
    finally:
        for client in clients:
            client.stop.set()
        for client in clients:
            client.thread.join(60)
    figures = CheckFigures()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for client in clients:
            check_ledger(
                http, client.ledger, violations, figures, random.Random(seed), settle=True, usage=True
            )
    requests = sum(c.counters.requests for c in clients)
    report: dict[str, Any] = {
        "minutes": round((time.monotonic() - began) / 60, 2),
        "requests": requests,
        "uploads_acknowledged": sum(c.counters.uploads_acked for c in clients),
        "invariant_checks": figures.checks,
        "files_verified": figures.files_verified,
        "rss_mib": summary(series["rss_mib"]),
        "fds": summary(series["fds"]),
        "violations": violations.items[:30],
    }
    if series["pg_connections"]:
        report["pg_connections"] = summary(series["pg_connections"])
    report["_series"] = series
    return report


def _assert_flat(report: dict[str, Any]) -> None:
    series = report.pop("_series")
    assert not report["violations"], "\n".join(report["violations"])
    ok, first, last = flat(series["rss_mib"], *RSS_MARGIN)
    assert ok, f"RSS grew: {first:.1f} MiB at most in the first third, {last:.1f} MiB in the last"
    ok, first, last = flat(series["fds"], 1.0, FD_MARGIN)
    assert ok, f"open file descriptors grew: {first:.0f} at most in the first third, {last:.0f} in the last"
    if series["pg_connections"]:
        ok, first, last = flat(series["pg_connections"], 1.0, CONNECTION_MARGIN)
        assert ok, f"PostgreSQL connections grew: {first:.0f} then {last:.0f}"


def test_soak_mixed_traffic_keeps_rss_and_descriptors_flat(
    tmp_path: Path, torture_seed: int, soak_minutes: float, reliability_report: dict[str, Any]
) -> None:
    server = LiveServer(tmp_path / "data", TORTURE_ENV)
    server.start()
    try:
        report = soak(server, soak_minutes, torture_seed)
    finally:
        server.stop()
    reliability_report["soak (SQLite + local disk)"] = {k: v for k, v in report.items() if k != "_series"}
    print(f"soak: {reliability_report['soak (SQLite + local disk)']}")
    _assert_flat(report)


@pytest.mark.e2e
@pytest.mark.slow
def test_soak_on_postgresql_keeps_rss_descriptors_and_connections_flat(
    tmp_path: Path, torture_seed: int, soak_minutes: float, reliability_report: dict[str, Any]
) -> None:
    from tests.e2e.replicated import pg_s3_env

    env = {**pg_s3_env(), **TORTURE_ENV}
    server = LiveServer(tmp_path / "data", env)
    server.start()
    url = env["GEMFILES_DATABASE_URL"]
    try:
        report = soak(server, soak_minutes, torture_seed, connections=lambda: pg_connections(url))
    finally:
        server.stop()
    reliability_report["soak (PostgreSQL + S3)"] = {k: v for k, v in report.items() if k != "_series"}
    print(f"soak: {reliability_report['soak (PostgreSQL + S3)']}")
    _assert_flat(report)
