"""Crash torture: concurrent clients, the server killed with SIGKILL at random moments, invariants after
every restart (tests/torture/ledger.py says which). See docs/reliability.md."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support import LiveServer
from tests.torture.harness import TORTURE_ENV, Torture, blob_files

QUICK_KILLS, LONG_KILLS = 20, 200


def kills_for(mode: str, quick: int, long: int) -> int:
    """GEMFILES_TORTURE_KILLS overrides the mode's count (a longer or shorter run without a new mode)."""
    override = os.environ.get("GEMFILES_TORTURE_KILLS")
    return int(override) if override else (long if mode == "long" else quick)


def test_server_killed_at_random_loses_nothing_acknowledged(
    tmp_path: Path, torture_seed: int, torture_mode: str, reliability_report: dict[str, Any]
) -> None:
    kills = kills_for(torture_mode, QUICK_KILLS, LONG_KILLS)
    server = LiveServer(tmp_path / "data", TORTURE_ENV)
    server.start()
    try:
        torture = Torture(
            [server],
            seed=torture_seed,
            kills=kills,
            clients=4,
            blob_root=server.data_dir / "blobs",
            pause=(0.3, 1.2) if torture_mode == "long" else (0.2, 0.8),
        )
        figures = torture.run()
    finally:
        server.stop()
    section = {**dataclasses.asdict(figures), "violations": torture.violations.items[:50]}
    reliability_report["crash torture (SQLite + local disk)"] = section
    print(f"crash torture: {section}")
    assert not torture.violations.items, "\n".join(torture.violations.items[:30]) + f"\nseed {torture_seed}"
    assert figures.kills == kills and figures.restarts == kills
    assert figures.invariant_checks >= kills * 4


def test_sweep_removes_blobs_a_crash_left_without_metadata(
    tmp_path: Path, torture_seed: int, reliability_report: dict[str, Any]
) -> None:
    """What a crash leaves, made on purpose: a joined object whose file row was never written (the crash
    window inside a finalize) and a part file of a session that is gone. After a restart and a sweep with
    the scrub (no grace: nothing is in flight) no byte that no file or live session points at may remain,
    and the reply says what was removed."""
    import httpx

    server = LiveServer(tmp_path / "data", TORTURE_ENV)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            key = {"x-goog-api-key": f"orphans-{torture_seed}"}
            kept = http.post(
                "/upload/v1beta/files",
                content=b"kept bytes",
                headers={**key, "X-Goog-Upload-Protocol": "raw", "Content-Type": "text/plain"},
            )
            assert kept.status_code == 200
        server.kill()
        blobs = server.data_dir / "blobs"
        before = set(blob_files(blobs))
        orphan_object = blobs / "objects" / "zz" / "zzorphan0crash0left0this"
        orphan_object.mkdir(parents=True)
        (orphan_object / "1.part").write_bytes(b"x" * 4096)
        (orphan_object / "manifest.json").write_text('{"parts": [{"file": "1.part", "size": 4096}]}')
        orphan_part = blobs / "uploads" / "zzorphan0sessiongone0"
        orphan_part.mkdir(parents=True)
        (orphan_part / "3.part").write_bytes(b"y" * 1000)
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            reply = http.post("/_internal/sweep", json={"scrub": True, "graceSeconds": 0})
            assert reply.status_code == 200, reply.text
            scrub = reply.json()["scrub"]
            assert http.get(f"/v1beta/{kept.json()['file']['name']}", headers=key).status_code == 200
        left = set(blob_files(blobs)) - before
    finally:
        server.stop()
    reliability_report["orphan scrub"] = {"orphans left after sweep": sorted(left), "scrub": scrub}
    assert not left, f"orphan bytes left after a restart and a sweep: {sorted(left)}"
    assert set(blob_files(blobs)) == before  # the kept file's bytes are still there
    assert (scrub["removedObjects"], scrub["removedUploads"], scrub["removedBytes"]) == (1, 1, "5096")
    assert set(scrub["keys"]) == {"zz/zzorphan0crash0left0this", "uploads/zzorphan0sessiongone0"}


REPLICA_QUICK_KILLS, REPLICA_LONG_KILLS = 20, 200


@pytest.mark.e2e
@pytest.mark.slow
def test_replica_killed_at_random_while_the_other_serves_loses_nothing(
    tmp_path: Path, torture_seed: int, torture_mode: str, reliability_report: dict[str, Any]
) -> None:
    """Two replicas on one PostgreSQL database and one S3 prefix (SeaweedFS); each cycle kills one of them
    with SIGKILL while the clients go on against the other, then restarts it. The clients send each request
    to a live replica at random (upload URLs included: sessions are shared)."""
    from tests.e2e.replicated import pg_s3_env
    from tests.e2e.services import shared_seaweedfs

    kills = kills_for(torture_mode, REPLICA_QUICK_KILLS, REPLICA_LONG_KILLS)
    env = {**pg_s3_env(), **TORTURE_ENV}
    replicas = [LiveServer(tmp_path / f"replica{i}", env) for i in range(2)]
    for replica in replicas:
        replica.start()
    try:
        torture = Torture(replicas, seed=torture_seed, kills=kills, clients=4, blob_root=None)
        figures = torture.run()
        bucket, _, prefix = env["GEMFILES_BLOB_URL"].removeprefix("s3://").partition("/")
        seaweed = shared_seaweedfs()
        # Every file was deleted, swept and scrubbed at the end: whatever the bucket still holds is orphan
        # bytes the scrub missed.
        left = seaweed.keys(bucket, prefix) + seaweed.pending_uploads(bucket, prefix)
    finally:
        for replica in replicas:
            replica.stop()
    section = {
        **dataclasses.asdict(figures),
        "s3_orphans_after_sweep": len(left),
        "s3_orphans_first": left[:20],
        "violations": torture.violations.items[:50],
    }
    reliability_report["crash torture (2 replicas, PostgreSQL + S3)"] = section
    print(f"replicated crash torture: {section}")
    assert not torture.violations.items, "\n".join(torture.violations.items[:30]) + f"\nseed {torture_seed}"
    assert not left, f"orphan bytes left in the S3 prefix after the sweep and the scrub: {left[:20]}"
    assert figures.kills == kills
