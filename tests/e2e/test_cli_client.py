"""``gemfiles files ...`` and ``gemfiles usage`` as a user runs them: a real CLI process against a live server."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ROOT, LiveServer

MIB = 1024 * 1024


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Cli:
    """Runs ``python -m gemfiles`` with the SDKs' variables pointing at ``server`` and its own cache dir."""

    def __init__(self, server: LiveServer, key: str, cache: Path) -> None:
        self.server = server
        self.cache = cache
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("GEMFILES_", "GOOGLE_", "GEMINI_"))
        }
        self.env.update(
            {"GOOGLE_GEMINI_BASE_URL": server.url, "GEMINI_API_KEY": key, "XDG_CACHE_HOME": str(cache)}
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gemfiles", *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )

    def json(self, *args: str, expect: int = 0) -> Any:
        result = self.run(*args, "--json")
        assert result.returncode == expect, result.stdout + result.stderr
        return json.loads(result.stdout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # As from a terminal: a suite started in the background by a non-interactive shell has SIGINT
            # ignored, and an ignored signal stays ignored across exec (Python then installs no Ctrl-C
            # handler), so the child would never see the test's Ctrl-C.
            preexec_fn=_default_sigint,
        )

    def state_files(self) -> list[Path]:
        directory = self.cache / "gemfiles" / "uploads"
        return sorted(directory.glob("*.json")) if directory.exists() else []


@pytest.fixture
def cli(live_server: LiveServer, api_key: str, tmp_path: Path) -> Cli:
    return Cli(live_server, api_key, tmp_path / "cache")


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def sha256_hash(data: bytes) -> str:
    """The File's ``sha256Hash``: base64 of the hex digest."""
    return base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()


def received_bytes(upload_url: str) -> int:
    reply = httpx.post(upload_url, headers={"X-Goog-Upload-Command": "query"}, timeout=10)
    return int(reply.headers.get("x-goog-upload-size-received", "0"))


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_until_received(cli: Cli, proc: subprocess.Popen[str], at_least: int) -> str:
    """The upload URL of the one upload in progress, once the server holds ``at_least`` of its bytes."""
    wait_for(lambda: bool(cli.state_files()) or proc.poll() is not None, 30, "the upload state file")
    assert proc.poll() is None, proc.communicate()
    url = json.loads(cli.state_files()[0].read_text())["uploadUrl"]
    wait_for(lambda: received_bytes(url) >= at_least or proc.poll() is not None, 60, f"{at_least} bytes")
    assert proc.poll() is None, "the upload finished before it could be interrupted"
    return str(url)


def test_upload_interrupted_by_ctrl_c_resumes_when_run_again(cli: Cli, tmp_path: Path) -> None:
    video = tmp_path / "lecture.mp4"
    data = random_file(video, 50 * 1000 * 1000)
    # Paced so that the interruption lands mid-way: about 5 s for the whole file.
    proc = cli.start("files", "upload", str(video), "--limit-rate", "10M", "--json")
    url = wait_until_received(cli, proc, 2 * 8 * MIB)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    [interrupted] = json.loads(out)
    assert interrupted["interrupted"] is True and interrupted["ok"] is False
    [state] = cli.state_files()
    assert state.stat().st_mode & 0o777 == 0o600
    assert cli.env["GEMINI_API_KEY"] not in state.read_text()
    kept = received_bytes(url)
    assert 16 * MIB <= kept < len(data)

    [result] = cli.json("files", "upload", str(video))
    assert result["ok"] is True
    # (a chunk whose last byte was sent as the signal came may still have been committed after the query)
    assert kept <= result["resumedFrom"] < len(data)
    assert result["sha256Verified"] is True
    assert result["file"]["sha256Hash"] == sha256_hash(data)
    assert result["file"]["sizeBytes"] == str(len(data))
    assert cli.state_files() == []
    listed = cli.json("files", "list")["files"]
    assert [f["name"] for f in listed if f.get("displayName") == "lecture.mp4"] == [result["file"]["name"]]


def test_upload_goes_on_after_the_server_restarts_mid_upload(
    server_factory: Callable[..., LiveServer], api_key: str, tmp_path: Path
) -> None:
    server = server_factory()
    cli = Cli(server, api_key, tmp_path / "cache")
    data = random_file(tmp_path / "talk.mp3", 40 * 1000 * 1000)
    proc = cli.start("files", "upload", str(tmp_path / "talk.mp3"), "--limit-rate", "10M", "--json")
    wait_until_received(cli, proc, 8 * MIB)
    server.kill()  # the connection is lost mid-chunk
    server.start()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    [result] = json.loads(out)
    assert result["sha256Verified"] is True
    assert result["file"]["sha256Hash"] == sha256_hash(data)
    assert cli.state_files() == []


def test_upload_a_directory_in_parallel(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    expected: dict[str, bytes] = {}
    for index in range(12):
        relative = f"part{index % 3}/doc{index:02}.txt" if index % 2 else f"doc{index:02}.pdf"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        expected[relative] = random_file(root / relative, 1000 + index * 70_001)
    (root / ".cache").mkdir()
    (root / ".cache" / "skip.txt").write_text("hidden")
    results = cli.json("files", "upload", str(root), "--parallel", "4")
    assert len(results) == 12
    assert all(r["ok"] and r["sha256Verified"] for r in results), results
    by_name = {r["file"]["displayName"]: r["file"] for r in results}
    assert set(by_name) == set(expected)
    for relative, data in expected.items():
        assert by_name[relative]["sha256Hash"] == sha256_hash(data)
        assert by_name[relative]["mimeType"] == (
            "application/pdf" if relative.endswith(".pdf") else "text/plain"
        )
    listed = cli.json("files", "list", "--page-size", "5")["files"]
    assert sorted(f["displayName"] for f in listed) == sorted(expected)


def test_get_list_delete_and_usage_answer_json(cli: Cli, tmp_path: Path) -> None:
    data = random_file(tmp_path / "notes.txt", 12_345)
    [uploaded] = cli.json(
        "files", "upload", str(tmp_path / "notes.txt"), "--display-name", "Notes", "--name", "notes1"
    )
    assert uploaded["file"]["name"] == "files/notes1"
    assert uploaded["file"]["displayName"] == "Notes"
    assert cli.json("files", "get", "files/notes1")["sha256Hash"] == sha256_hash(data)
    assert cli.json("files", "get", uploaded["file"]["uri"])["name"] == "files/notes1"
    assert [f["name"] for f in cli.json("files", "list")["files"]] == ["files/notes1"]
    usage = cli.json("usage")
    assert usage == {"usedBytes": len(data), "reservedBytes": 0}
    assert cli.json("files", "delete", "notes1") == {"deleted": ["files/notes1"], "failed": []}
    assert cli.json("files", "list") == {"files": []}
    assert cli.json("usage")["usedBytes"] == 0


def test_missing_files_exit_with_the_not_found_code(cli: Cli, tmp_path: Path) -> None:
    missing = cli.json("files", "get", "files/doesnotexist", expect=4)
    assert missing["error"]["status"] == "PERMISSION_DENIED"  # Google's answer for a missing file
    assert "may not exist" in missing["error"]["message"]
    deleted = cli.json("files", "delete", "files/doesnotexist", expect=4)
    assert deleted["deleted"] == [] and deleted["failed"][0]["name"] == "files/doesnotexist"
    local = cli.run("files", "upload", str(tmp_path / "not-here.pdf"))
    assert local.returncode == 2
    assert "no such file or directory" in local.stderr


def test_bad_key_exits_with_the_auth_code(server_factory: Callable[..., LiveServer], tmp_path: Path) -> None:
    server = server_factory(GEMFILES_AUTH="keys")
    cli = Cli(server, "not-a-key", tmp_path / "cache")
    (tmp_path / "a.txt").write_text("a")
    listed = cli.json("files", "list", expect=3)
    assert listed["error"]["message"] == "API key not valid. Please pass a valid API key."
    [upload] = cli.json("files", "upload", str(tmp_path / "a.txt"), expect=3)
    assert upload["ok"] is False and upload["error"]["exitCode"] == 3
    assert cli.state_files() == []


def test_download_is_byte_identical(
    server_factory: Callable[..., LiveServer], api_key: str, tmp_path: Path
) -> None:
    server = server_factory(GEMFILES_ALLOW_DOWNLOAD="true")
    cli = Cli(server, api_key, tmp_path / "cache")
    data = random_file(tmp_path / "scan.pdf", 9 * MIB + 17)
    [uploaded] = cli.json("files", "upload", str(tmp_path / "scan.pdf"))
    name = uploaded["file"]["name"]
    out = tmp_path / "out" / "copy.pdf"
    out.parent.mkdir()
    result = cli.json("files", "download", name, "-o", str(out))
    assert result == {"name": name, "path": str(out), "sizeBytes": len(data)}
    assert out.read_bytes() == data
    again = cli.run("files", "download", name, "-o", str(out))
    assert again.returncode == 2  # refuses to overwrite without --force
    into = cli.json("files", "download", name, "-o", f"{tmp_path / 'dir'}/")
    assert Path(into["path"]) == tmp_path / "dir" / f"{name.split('/')[1]}.pdf"
    assert Path(into["path"]).read_bytes() == data


def test_download_of_an_uploaded_file_is_refused_where_the_server_refuses_it(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("a")
    [uploaded] = cli.json("files", "upload", str(tmp_path / "a.txt"))
    refused = cli.json("files", "download", uploaded["file"]["name"], "-o", str(tmp_path / "b.txt"), expect=1)
    assert refused["error"]["status"] == "FAILED_PRECONDITION"
    assert not (tmp_path / "b.txt").exists()
