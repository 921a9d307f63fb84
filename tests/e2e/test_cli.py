"""The command line: every command takes the same store options as serve."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def gemfiles(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMFILES_")}
    return subprocess.run(
        [sys.executable, "-m", "gemfiles", *args],
        env={**env, "PYTHONPATH": str(ROOT / "src")},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_and_keys_use_the_database_url_option(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere" / "meta.db"
    database.parent.mkdir()
    url = f"sqlite:///{database}"

    migrated = gemfiles("migrate", "--database-url", url, "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert database.exists()
    assert not (tmp_path / "data" / "gemfiles.db").exists()

    created = gemfiles("keys", "create", "--project", "team", "--database-url", url, cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    key = next(word for word in created.stdout.split() if word.startswith("gf-"))
    listed = gemfiles("keys", "list", "--database-url", url, cwd=tmp_path)
    assert key[:10] in listed.stdout and "team" in listed.stdout
    revoked = gemfiles("keys", "revoke", key[:10], "--database-url", url, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert not (tmp_path / ".gemfiles").exists()  # the default data directory was never used


def test_keys_list_with_data_dir_reads_that_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = gemfiles("keys", "create", "--project", "p1", "--data-dir", str(data), cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    assert "p1" in gemfiles("keys", "list", "--data-dir", str(data), cwd=tmp_path).stdout
    assert "p1" not in gemfiles("keys", "list", "--data-dir", str(tmp_path / "other"), cwd=tmp_path).stdout
