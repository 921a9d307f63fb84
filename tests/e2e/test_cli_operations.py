"""gemfiles projects|keys|scrub against a running server's admin API and against the local stores;
gemfiles seed; gemfiles usage through the admin API."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.protocol.uploading import start_upload, upload_file
from tests.support import ROOT, LiveServer, plant_orphan

TOKEN = "cli-admin-token"


def gemfiles(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GEMFILES_", "GOOGLE_", "GEMINI_"))}
    return subprocess.run(
        [sys.executable, "-m", "gemfiles", *args],
        env={**clean, "PYTHONPATH": str(ROOT / "src"), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_keys_and_projects_against_a_running_server(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(GEMFILES_ADMIN_TOKEN=TOKEN, GEMFILES_AUTH="keys")
    remote = ["--server", server.url, "--admin-token", TOKEN]
    created = gemfiles("keys", "create", "--project", "crew", *remote, "--json", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    listed = json.loads(gemfiles("keys", "list", *remote, "--json", cwd=tmp_path).stdout)["keys"]
    assert [(k["prefix"], k["project"]) for k in listed] == [(key[:10], "crew")]

    quota = gemfiles("projects", "set-quota", "crew", "1.5KiB", *remote, cwd=tmp_path)
    assert quota.returncode == 0, quota.stderr
    assert "crew: its own quota of 1,536 bytes" in quota.stdout
    with httpx.Client(base_url=server.url, timeout=30) as client:
        upload_file(client, key, b"c" * 1000)
        assert start_upload(client, key, size=1000).status_code == 429
    projects = json.loads(gemfiles("projects", "list", *remote, "--json", cwd=tmp_path).stdout)["projects"]
    assert [(p["project"], p["files"], p["usedBytes"], p["quotaBytes"]) for p in projects] == [
        ("crew", 1, "1000", "1536")
    ]
    table = gemfiles("projects", "list", *remote, cwd=tmp_path).stdout
    assert "crew" in table and "1536" in table

    usage = gemfiles(
        "usage", "--base-url", server.url, "--api-key", key, "--admin-token", TOKEN, "--json", cwd=tmp_path
    )
    assert usage.returncode == 0, usage.stderr
    assert json.loads(usage.stdout) == {
        "usedBytes": 1000,
        "reservedBytes": 0,
        "quotaBytes": 1536,
        "files": 1,
        "project": "crew",
    }

    revoked = gemfiles("keys", "revoke", key[:10], *remote, cwd=tmp_path)
    assert revoked.returncode == 0 and "revoked 1 key(s)" in revoked.stdout
    again = gemfiles("keys", "revoke", key[:10], *remote, cwd=tmp_path)
    assert again.returncode == 1 and "No active key" in again.stdout
    wrong = gemfiles("keys", "list", "--server", server.url, "--admin-token", "not-the-token", cwd=tmp_path)
    assert wrong.returncode == 3 and "401" in wrong.stdout


def test_projects_on_the_local_store_mirror_the_admin_api(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert gemfiles("projects", "set-quota", "local", "2000", *data, cwd=tmp_path).returncode == 0
    rows = json.loads(gemfiles("projects", "list", *data, "--json", cwd=tmp_path).stdout)
    assert rows["projects"] == [
        {
            "project": "local",
            "files": 0,
            "usedBytes": "0",
            "reservedBytes": "0",
            "quotaBytes": "2000",
            "ownQuota": True,
        }
    ]
    assert gemfiles("projects", "set-quota", "local", "default", *data, cwd=tmp_path).returncode == 0
    rows = json.loads(gemfiles("projects", "list", *data, "--json", cwd=tmp_path).stdout)
    assert rows["projects"] == []  # no files, no reservations, no quota of its own: nothing to list
    bad = gemfiles("projects", "set-quota", "local", "lots", *data, cwd=tmp_path)
    assert bad.returncode == 2


def test_seed_is_idempotent_and_replaces_changed_files(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "a.txt").write_text("alpha")
    (seed / "b.md").write_text("# beta")
    data = ["--data-dir", str(tmp_path / "data")]
    first = gemfiles("seed", str(seed), "--project", "fixtures", *data, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert sorted(json.loads(first.stdout)["added"]) == ["a.txt", "b.md"]
    second = json.loads(
        gemfiles("seed", str(seed), "--project", "fixtures", *data, "--json", cwd=tmp_path).stdout
    )
    assert (second["added"], second["replaced"], sorted(second["skipped"])) == ([], [], ["a.txt", "b.md"])
    (seed / "a.txt").write_text("alpha, changed")
    third = json.loads(
        gemfiles("seed", str(seed), "--project", "fixtures", *data, "--json", cwd=tmp_path).stdout
    )
    assert (third["added"], third["replaced"], third["skipped"]) == ([], ["a.txt"], ["b.md"])
    rows = json.loads(gemfiles("projects", "list", *data, "--json", cwd=tmp_path).stdout)["projects"]
    assert [(r["project"], r["files"], r["usedBytes"]) for r in rows] == [
        ("fixtures", 2, str(len("alpha, changed") + len("# beta")))
    ]


def test_seed_by_key_reaches_the_project_that_key_opens(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "hello.txt").write_text("hello")
    data = tmp_path / "data"
    seeded = gemfiles("seed", str(seed), "--key", "my-open-key", "--data-dir", str(data), cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    server = server_factory(data)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        files = client.get("/v1beta/files", headers={"x-goog-api-key": "my-open-key"}).json()["files"]
    assert [f["displayName"] for f in files] == ["hello.txt"]


def test_seed_dir_with_two_workers_seeds_each_file_once(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    for n in range(4):
        (seed / f"f{n}.txt").write_text(f"file {n}")
    env = {"GEMFILES_SEED_DIR": str(seed), "GEMFILES_SEED_PROJECT": "shared", "GEMFILES_ADMIN_TOKEN": TOKEN}
    server = server_factory(GEMFILES_WORKERS="2", **env)
    headers = {"authorization": f"Bearer {TOKEN}"}
    reply = httpx.get(f"{server.url}/_internal/admin/projects/shared", headers=headers, timeout=30)
    assert reply.json()["files"] == 4


def stored_objects(data_dir: Path) -> list[Path]:
    """The objects on disk, and small files' bytes kept in the database (as ``blobs/inline/<key>``)."""
    on_disk = sorted((data_dir / "blobs" / "objects").rglob("*.data"))
    with contextlib.closing(sqlite3.connect(data_dir / "gemfiles.db")) as db:
        keys = [row[0] for row in db.execute("SELECT key FROM inline_blobs ORDER BY key")]
    return sorted(on_disk + [data_dir / "blobs" / key for key in keys])


def plant_inline_orphan(data_dir: Path, name: str, size: int, age_seconds: float = 0) -> Path:
    """Bytes in the database's ``inline_blobs`` that no file names, written ``age_seconds`` ago."""
    created_us = int((time.time() - age_seconds) * 1_000_000)
    with contextlib.closing(sqlite3.connect(data_dir / "gemfiles.db")) as db, db:
        db.execute("INSERT INTO inline_blobs VALUES (?, ?, ?)", (f"inline/{name}", b"i" * size, created_us))
    return data_dir / "blobs" / "inline" / name


def test_scrub_removes_small_files_bytes_in_the_database_that_no_file_names(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "small.txt").write_text("kept in the database")
    data_dir = tmp_path / "data"
    data = ["--data-dir", str(data_dir)]
    assert gemfiles("seed", str(seed), "--project", "p", *data, cwd=tmp_path).returncode == 0
    (named,) = stored_objects(data_dir)
    assert named.parent.name == "inline"  # 20 bytes: no file on disk
    old = plant_inline_orphan(data_dir, "old0inline0orphan", 70, age_seconds=2 * 3600)
    fresh = plant_inline_orphan(data_dir, "fresh0inline0orphan", 5)

    dry = json.loads(gemfiles("scrub", "--dry-run", "--json", *data, cwd=tmp_path).stdout)
    assert (dry["keys"], dry["removedObjectBytes"]) == (["inline/old0inline0orphan"], "70")
    assert stored_objects(data_dir) == sorted([named, old, fresh])

    real = gemfiles("scrub", *data, cwd=tmp_path)
    assert real.returncode == 0, real.stderr
    assert "removed 1 orphan object(s), 70 bytes" in real.stdout
    assert stored_objects(data_dir) == sorted([named, fresh])


def test_scrub_on_the_local_stores_dry_run_lists_and_the_real_run_removes(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "named.txt").write_text("a file's bytes")
    data_dir = tmp_path / "data"
    data = ["--data-dir", str(data_dir)]
    assert gemfiles("seed", str(seed), "--project", "p", *data, cwd=tmp_path).returncode == 0
    (named,) = stored_objects(data_dir)
    old = plant_orphan(data_dir, "ab0old0orphan", 300, age_seconds=2 * 3600)
    fresh = plant_orphan(data_dir, "cd0fresh0orphan", 5)

    dry = gemfiles("scrub", "--dry-run", "--json", *data, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    listed = json.loads(dry.stdout)
    assert (listed["dryRun"], listed["removedObjects"], listed["removedObjectBytes"]) == (True, 1, "300")
    assert (listed["keys"], listed["waiting"], listed["examined"]) == (["ab/ab0old0orphan"], 1, 3)
    text = gemfiles("scrub", "--dry-run", *data, cwd=tmp_path)
    assert "would remove 1 orphan object(s), 300 bytes" in text.stdout and "ab/ab0old0orphan" in text.stdout
    assert "nothing removed (--dry-run)" in text.stdout
    assert stored_objects(data_dir) == sorted([named, old, fresh])  # a dry run removes nothing

    real = gemfiles("scrub", *data, cwd=tmp_path)
    assert real.returncode == 0, real.stderr
    assert "removed 1 orphan object(s), 300 bytes" in real.stdout and "ab/ab0old0orphan" in real.stdout
    assert stored_objects(data_dir) == sorted([named, fresh])

    # With no grace, the fresh orphan goes too; the named object never is a candidate, of any age.
    everything = gemfiles("scrub", "--grace", "0s", "--dry-run", "--json", *data, cwd=tmp_path)
    assert json.loads(everything.stdout)["keys"] == ["cd/cd0fresh0orphan"]
    gone = json.loads(gemfiles("scrub", "--grace", "0s", "--json", *data, cwd=tmp_path).stdout)
    assert (gone["dryRun"], gone["keys"], gone["removedBytes"]) == (False, ["cd/cd0fresh0orphan"], "5")
    assert stored_objects(data_dir) == [named]
    bad = gemfiles("scrub", "--grace", "soon", *data, cwd=tmp_path)
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_scrub_text_report_lists_the_first_keys_and_counts_the_rest(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for n in range(25):
        plant_orphan(data_dir, f"{n:02d}0orphan", 2, age_seconds=2 * 3600)

    text = gemfiles("scrub", "--dry-run", "--data-dir", str(data_dir), cwd=tmp_path).stdout
    assert text.count("0orphan") == 20 and "... and 5 more (--json lists them all)" in text
    listed = gemfiles("scrub", "--dry-run", "--json", "--data-dir", str(data_dir), cwd=tmp_path).stdout
    assert len(json.loads(listed)["keys"]) == 25


def test_scrub_against_a_running_server_through_the_admin_api(
    server_factory: Callable[..., LiveServer], tmp_path: Path, api_key: str
) -> None:
    # No background work: the start-up scrub would race the scrubs asked for here.
    server = server_factory(GEMFILES_ADMIN_TOKEN=TOKEN, GEMFILES_RUN_WORKERS="false")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        upload_file(client, api_key, b"named bytes")
    (named,) = stored_objects(server.data_dir)
    orphan = plant_orphan(server.data_dir, "ef0remote0orphan", 64, age_seconds=2 * 3600)
    remote = ["--server", server.url, "--admin-token", TOKEN]

    dry = gemfiles("scrub", *remote, "--grace", "0s", "--dry-run", "--json", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["keys"] == ["ef/ef0remote0orphan"] and orphan.exists()

    real = gemfiles("scrub", *remote, "--grace", "0s", cwd=tmp_path)
    assert real.returncode == 0, real.stderr
    assert "removed 1 orphan object(s), 64 bytes" in real.stdout and "ef/ef0remote0orphan" in real.stdout
    assert stored_objects(server.data_dir) == [named]
    wrong = gemfiles("scrub", "--server", server.url, "--admin-token", "not-the-token", cwd=tmp_path)
    assert wrong.returncode == 3 and "401" in wrong.stdout
